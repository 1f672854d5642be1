variable "serial_console" {
  type        = string
  description = "Value of the serial-port-enable metadata key."
}

resource "google_compute_instance" "ops" {
  name         = "ops-1"
  machine_type = "e2-small"
  zone         = "europe-west1-b"
  metadata     = { serial-port-enable = var.serial_console }

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    subnetwork = "mgmt"
  }
}
