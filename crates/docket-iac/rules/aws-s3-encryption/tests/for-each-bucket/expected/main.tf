# One bucket per tenant.
resource "aws_s3_bucket" "tenant" {
  for_each = toset(["alpha", "beta"])
  bucket   = "acme-tenant-${each.key}"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "tenant" {
  for_each = aws_s3_bucket.tenant
  bucket   = each.value.id
  rule {
    bucket_key_enabled = true
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}
