resource "google_container_node_pool" "batch" {
  name       = "batch"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 2

  node_config {
    machine_type = "n2-highcpu-8"
    preemptible  = true

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
