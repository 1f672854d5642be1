resource "google_container_node_pool" "gpu" {
  name       = "gpu"
  cluster    = "primary"
  location   = "us-central1"
  node_count = 1

  node_config {
    machine_type = "n1-standard-8"

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}
