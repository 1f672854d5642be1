resource "google_container_cluster" "legacy" {
  name               = "legacy"
  location           = "us-central1"
  initial_node_count = 3

  network_policy {
    enabled  = false
    provider = "CALICO"
  }
}
