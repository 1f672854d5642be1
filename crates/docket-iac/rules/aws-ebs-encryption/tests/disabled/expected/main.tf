resource "aws_ebs_volume" "logs" {
  availability_zone = "eu-west-1b"
  size              = 20
  encrypted         = true
}
