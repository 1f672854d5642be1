resource "google_container_node_pool" "web" {
  name       = "web"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 3

  node_config {
    machine_type    = "e2-standard-2"
    service_account = "gke-nodes@acme.iam.gserviceaccount.com"

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
