resource "aws_kms_key" "app" {
  description         = "Application secrets"
  enable_key_rotation = var.rotate_keys
}
