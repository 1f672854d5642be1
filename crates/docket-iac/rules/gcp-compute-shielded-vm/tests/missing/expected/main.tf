# Bastion host.
resource "google_compute_instance" "bastion" {
  name         = "bastion"
  machine_type = "e2-small"
  zone         = "europe-west1-b"

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    subnetwork = "mgmt"
  }

  tags = ["bastion"]

  shielded_instance_config {
    enable_secure_boot = true
  }
}
