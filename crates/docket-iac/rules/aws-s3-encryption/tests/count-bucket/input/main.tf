resource "aws_s3_bucket" "shard" {
  count  = 3
  bucket = "acme-shard-${count.index}"
}
