resource "google_container_cluster" "apps" {
  name     = "apps"
  project  = "acme-prod"
  location = "europe-west4"

  enable_autopilot = true

  workload_identity_config {
    workload_pool = "acme-prod.svc.id.goog"
  }
}
