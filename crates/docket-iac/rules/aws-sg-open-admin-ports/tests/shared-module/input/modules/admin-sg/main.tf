variable "vpc_id" {
  type = string
}

variable "name" {
  type = string
}

resource "aws_security_group" "admin" {
  name   = var.name
  vpc_id = var.vpc_id
}

# Remote desktop for the operations team.
resource "aws_security_group_rule" "rdp" {
  type              = "ingress"
  security_group_id = aws_security_group.admin.id
  from_port         = 3389
  to_port           = 3389
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
}
