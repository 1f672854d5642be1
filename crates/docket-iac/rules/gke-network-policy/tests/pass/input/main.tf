resource "google_container_cluster" "primary" {
  name                     = "primary"
  location                 = "europe-west1"
  remove_default_node_pool = true
  initial_node_count       = 1

  network_policy {
    enabled  = true
    provider = "CALICO"
  }

  addons_config {
    network_policy_config {
      disabled = false
    }
  }
}
