# Access logs of the public load balancer.
resource "aws_s3_bucket" "alb_logs" {
  bucket = "acme-prod-alb-logs"

  tags = {
    Team = "platform"
  }
}

resource "aws_s3_bucket_versioning" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}
