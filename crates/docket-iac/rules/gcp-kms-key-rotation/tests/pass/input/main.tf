resource "google_kms_crypto_key" "logs" {
  name            = "logs"
  key_ring        = "projects/acme/locations/europe-west1/keyRings/data"
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}
