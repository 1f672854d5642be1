resource "aws_s3_bucket" "artifacts" {
  bucket = "acme-ci-artifacts"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

# Encrypted by bucket name rather than by reference.
resource "aws_s3_bucket" "cache" {
  bucket = "acme-ci-cache"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cache" {
  bucket = "acme-ci-cache"

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}
