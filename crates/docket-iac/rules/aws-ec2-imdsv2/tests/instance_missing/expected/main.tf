resource "aws_instance" "app" {
  ami                  = "ami-0c1a7f89451184c8b"
  instance_type        = "t3.small"
  iam_instance_profile = "app-instance"

  tags = {
    Name = "app"
  }

  metadata_options {
    http_tokens = "required"
  }
}
