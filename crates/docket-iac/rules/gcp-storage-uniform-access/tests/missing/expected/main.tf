# Build artifacts, kept for 90 days.
resource "google_storage_bucket" "artifacts" {
  name          = "acme-build-artifacts"
  location      = "EU"
  force_destroy = false

  labels = {
    team = "platform"
    env  = "prod"
  }

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  uniform_bucket_level_access = true
}
