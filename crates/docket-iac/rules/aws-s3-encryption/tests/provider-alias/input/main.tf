provider "aws" {
  alias  = "replica"
  region = "eu-central-1"
}

# Cross-region copy of the state bucket.
resource "aws_s3_bucket" "state_replica" {
  provider = aws.replica
  bucket   = "acme-terraform-state-replica"
}
