# Public entry point for the web tier.
resource "aws_lb" "web" {
  name            = "web"
  internal        = false
  security_groups = ["sg-0123456789abcdef0"]
  subnets         = ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
}
