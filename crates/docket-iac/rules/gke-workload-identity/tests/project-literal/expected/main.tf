# Batch cluster in the analytics project.
resource "google_container_cluster" "batch" {
  name       = "batch"
  project    = "acme-analytics"
  location   = "us-central1"
  network    = "projects/acme-analytics/global/networks/default"
  subnetwork = "projects/acme-analytics/regions/us-central1/subnetworks/default"

  initial_node_count = 2

  workload_identity_config {
    workload_pool = "acme-analytics.svc.id.goog"
  }
}
