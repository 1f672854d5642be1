# Template used by the web autoscaling group.
resource "aws_launch_template" "web" {
  name_prefix   = "web-"
  image_id      = "ami-0c1a7f89451184c8b"
  instance_type = "t3.medium"

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "optional"
  }
}
