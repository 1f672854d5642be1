# Bastion host access.
resource "aws_security_group" "bastion" {
  name        = "bastion"
  description = "SSH to the bastion host"
  vpc_id      = "vpc-0f3c2a7d9e1b4c5a6"

  ingress {
    description = "SSH"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = "bastion"
  }
}
