# No source_ranges, source_tags or source_service_accounts: GCP applies the
# rule to 0.0.0.0/0.
resource "google_compute_firewall" "allow_ssh_default" {
  name    = "allow-ssh-default"
  network = "projects/acme-prod/global/networks/main"

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  target_tags = ["bastion"]
}
