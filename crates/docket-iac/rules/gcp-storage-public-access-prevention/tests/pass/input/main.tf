resource "google_storage_bucket" "backups" {
  name                        = "acme-backups"
  location                    = "EU"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }
}
