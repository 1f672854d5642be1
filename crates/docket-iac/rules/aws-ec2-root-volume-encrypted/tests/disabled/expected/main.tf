resource "aws_instance" "worker" {
  ami           = "ami-0c1a7f89451184c8b"
  instance_type = "m6i.large"

  root_block_device {
    volume_size = 50
    volume_type = "gp3"
    encrypted   = true
  }
}
