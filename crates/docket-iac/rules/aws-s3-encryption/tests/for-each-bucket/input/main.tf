# One bucket per tenant.
resource "aws_s3_bucket" "tenant" {
  for_each = toset(["alpha", "beta"])
  bucket   = "acme-tenant-${each.key}"
}
