resource "google_compute_firewall" "allow_https" {
  name      = "allow-https"
  network   = "projects/acme-prod/global/networks/main"
  direction = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = ["443"]
  }

  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["web"]
}
