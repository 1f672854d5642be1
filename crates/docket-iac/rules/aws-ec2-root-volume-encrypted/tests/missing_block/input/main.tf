# Bastion host for the ops team.
resource "aws_instance" "bastion" {
  ami           = "ami-0c1a7f89451184c8b"
  instance_type = "t3.micro"
  subnet_id     = "subnet-0a1b2c3d"

  tags = {
    Name = "bastion"
  }
}
