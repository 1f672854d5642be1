resource "aws_security_group" "jump" {
  name   = "windows-jump"
  vpc_id = "vpc-0f3c2a7d9e1b4c5a6"
}

resource "aws_vpc_security_group_ingress_rule" "jump_rdp" {
  security_group_id = aws_security_group.jump.id
  description       = "RDP"
  ip_protocol       = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_ipv4         = "0.0.0.0/0"
}
