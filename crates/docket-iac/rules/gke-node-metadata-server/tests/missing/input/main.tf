# General-purpose workers.
resource "google_container_node_pool" "general" {
  name       = "general"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 3

  node_config {
    machine_type    = "e2-standard-4"
    service_account = "gke-nodes@acme.iam.gserviceaccount.com"
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    labels = {
      pool = "general"
    }
  }
}
