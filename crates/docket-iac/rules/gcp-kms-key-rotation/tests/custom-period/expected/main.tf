resource "google_kms_crypto_key" "backups" {
  name     = "backups"
  key_ring = "projects/acme/locations/europe-west1/keyRings/data"

  rotation_period = "2592000s"
}
