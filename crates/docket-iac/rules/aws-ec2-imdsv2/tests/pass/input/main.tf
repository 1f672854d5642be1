resource "aws_instance" "app" {
  ami           = "ami-0c1a7f89451184c8b"
  instance_type = "t3.small"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
}

resource "aws_launch_template" "web" {
  name_prefix = "web-"
  image_id    = "ami-0c1a7f89451184c8b"

  metadata_options {
    http_tokens = "required"
  }
}
