resource "aws_cloudtrail" "main" {
  name                  = "org-trail"
  s3_bucket_name        = "acme-cloudtrail-logs"
  is_multi_region_trail = true
}
