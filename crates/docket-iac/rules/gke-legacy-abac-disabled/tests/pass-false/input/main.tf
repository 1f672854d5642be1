resource "google_container_cluster" "batch" {
  name               = "batch"
  location           = "us-central1"
  initial_node_count = 2
  enable_legacy_abac = false
}
