# Integrity monitoring is left at its provider default (enabled).
resource "google_container_node_pool" "jobs" {
  name       = "jobs"
  cluster    = "primary"
  location   = "europe-west1"
  node_count = 1

  node_config {
    machine_type = "e2-standard-2"

    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}
