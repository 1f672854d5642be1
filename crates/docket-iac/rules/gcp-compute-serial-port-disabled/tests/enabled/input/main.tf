# Debug box; serial console turned on during an incident.
resource "google_compute_instance" "debug" {
  name         = "debug-1"
  machine_type = "e2-small"
  zone         = "europe-west1-b"
  metadata     = { serial-port-enable = "TRUE" }

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    subnetwork = "mgmt"
  }
}
