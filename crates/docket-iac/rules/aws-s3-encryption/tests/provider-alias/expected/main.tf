provider "aws" {
  alias  = "replica"
  region = "eu-central-1"
}

# Cross-region copy of the state bucket.
resource "aws_s3_bucket" "state_replica" {
  provider = aws.replica
  bucket   = "acme-terraform-state-replica"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state_replica" {
  provider = aws.replica
  bucket   = aws_s3_bucket.state_replica.id
  rule {
    bucket_key_enabled = true
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}
