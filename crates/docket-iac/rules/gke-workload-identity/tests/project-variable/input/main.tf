variable "project_id" {
  type = string
}

resource "google_container_cluster" "primary" {
  name     = "primary"
  project  = var.project_id
  location = "europe-west1"

  remove_default_node_pool = true
  initial_node_count       = 1

  release_channel {
    channel = "REGULAR"
  }
}
