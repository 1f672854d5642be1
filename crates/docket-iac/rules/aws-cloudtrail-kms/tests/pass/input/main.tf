resource "aws_cloudtrail" "main" {
  name                  = "org-trail"
  s3_bucket_name        = "acme-cloudtrail-logs"
  is_multi_region_trail = true
  kms_key_id            = aws_kms_key.cloudtrail.arn
}

resource "aws_kms_key" "cloudtrail" {
  description         = "CloudTrail logs"
  enable_key_rotation = true
}
