# Key for application secrets.
resource "aws_kms_key" "app" {
  description             = "Application secrets"
  deletion_window_in_days = 30
}
