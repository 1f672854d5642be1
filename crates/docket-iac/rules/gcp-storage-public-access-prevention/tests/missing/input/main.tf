# Nightly database exports.
resource "google_storage_bucket" "exports" {
  name                        = "acme-db-exports"
  location                    = "EU"
  uniform_bucket_level_access = true

  labels = {
    team = "data"
  }
}
