resource "aws_s3_bucket" "reports" {
  bucket = "acme-finance-reports"
  acl    = "private"

  versioning {
    enabled = true
  }

  tags = {
    Team = "finance"
  }
}
