# Cluster for internal tools.
resource "google_container_cluster" "tools" {
  name                     = "tools"
  location                 = "europe-west1"
  remove_default_node_pool = true
  initial_node_count       = 1
  enable_shielded_nodes    = false

  release_channel {
    channel = "STABLE"
  }
}
