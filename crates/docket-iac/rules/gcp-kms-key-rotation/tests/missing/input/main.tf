# Key for application secrets.
resource "google_kms_crypto_key" "app" {
  name     = "app-secrets"
  key_ring = "projects/acme/locations/europe-west1/keyRings/app"
  purpose  = "ENCRYPT_DECRYPT"

  lifecycle {
    prevent_destroy = true
  }
}
