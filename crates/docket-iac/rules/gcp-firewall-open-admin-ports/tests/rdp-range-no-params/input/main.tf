resource "google_compute_firewall" "windows_admin" {
  name    = "windows-admin"
  network = "projects/acme-prod/global/networks/main"

  allow {
    protocol = "tcp"
    ports    = ["3380-3390", "5985-5986"]
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["windows"]
}
