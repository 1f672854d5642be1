resource "google_storage_bucket" "reports" {
  name                        = "acme-finance-reports"
  location                    = "US"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}
