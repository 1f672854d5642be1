# Scratch volume for the build agents.
resource "aws_ebs_volume" "data" {
  availability_zone = "eu-west-1a"
  size              = 100
  type              = "gp3"

  tags = {
    Name = "build-data"
  }
}
