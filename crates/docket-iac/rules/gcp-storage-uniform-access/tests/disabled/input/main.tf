resource "google_storage_bucket" "uploads" {
  name                        = "acme-user-uploads"
  location                    = "US"
  uniform_bucket_level_access = false

  labels = {
    team = "web"
  }
}
