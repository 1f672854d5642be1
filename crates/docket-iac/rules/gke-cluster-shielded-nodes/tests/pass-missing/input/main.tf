resource "google_container_cluster" "primary" {
  name                     = "primary"
  location                 = "europe-west1"
  remove_default_node_pool = true
  initial_node_count       = 1

  workload_identity_config {
    workload_pool = "acme.svc.id.goog"
  }
}
