resource "aws_s3_bucket" "reports" {
  bucket = "acme-finance-reports"
  acl    = "private"

  versioning {
    enabled = true
  }

  tags = {
    Team = "finance"
  }

  server_side_encryption_configuration {
    rule {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default {
        sse_algorithm = "aws:kms"
      }
    }
  }
}
