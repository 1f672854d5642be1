resource "aws_s3_bucket" "shard" {
  count  = 3
  bucket = "acme-shard-${count.index}"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "shard" {
  count  = 3
  bucket = aws_s3_bucket.shard[count.index].id
  rule {
    bucket_key_enabled = true
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}
