module "web_sg" {
  source = "./modules/sg"

  name   = "web"
  vpc_id = "vpc-0f3c2a7d9e1b4c5a6"

  ingress_rules = [
    {
      description = "HTTPS"
      port        = 443
      cidr_blocks = ["0.0.0.0/0"]
    },
    {
      description = "SSH"
      port        = 22
      cidr_blocks = ["10.0.0.0/8"]
    },
  ]
}
