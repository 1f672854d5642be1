resource "google_compute_network" "main" {
  name                    = "main"
  auto_create_subnetworks = false
}

# SSH to tagged bastion instances.
resource "google_compute_firewall" "allow_ssh" {
  name    = "allow-ssh"
  network = google_compute_network.main.name

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["bastion"]
}
