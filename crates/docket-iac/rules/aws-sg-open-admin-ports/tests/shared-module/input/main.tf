module "admin_sg_blue" {
  source = "./modules/admin-sg"
  vpc_id = "vpc-0f3c2a7d9e1b4c5a6"
  name   = "admin-blue"
}

module "admin_sg_green" {
  source = "./modules/admin-sg"
  vpc_id = "vpc-0d4e5f6a7b8c9d0e1"
  name   = "admin-green"
}
