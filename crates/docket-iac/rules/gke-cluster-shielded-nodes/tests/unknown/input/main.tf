variable "shielded_nodes" {
  type = bool
}

resource "google_container_cluster" "sandbox" {
  name                  = "sandbox"
  location              = "us-central1"
  initial_node_count    = 1
  enable_shielded_nodes = var.shielded_nodes
}
