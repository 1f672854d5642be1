resource "aws_alb" "internal" {
  name                       = "internal-api"
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
  drop_invalid_header_fields = false
}
