resource "google_container_node_pool" "web" {
  name       = "web"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 2

  node_config {
    machine_type = "e2-standard-2"

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}
