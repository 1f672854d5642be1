# Workers for the API tier.
resource "google_container_node_pool" "api" {
  name       = "api"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 3

  node_config {
    machine_type    = "e2-standard-4"
    image_type      = "COS_CONTAINERD"
    service_account = "gke-nodes@acme.iam.gserviceaccount.com"

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }
}
