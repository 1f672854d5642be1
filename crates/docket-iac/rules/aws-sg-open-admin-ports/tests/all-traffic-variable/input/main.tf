resource "aws_security_group" "ops" {
  name        = "ops-tools"
  description = "Operations tooling"
  vpc_id      = "vpc-0f3c2a7d9e1b4c5a6"

  ingress {
    description = "Everything from the operations team"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = var.ops_cidrs
  }
}
