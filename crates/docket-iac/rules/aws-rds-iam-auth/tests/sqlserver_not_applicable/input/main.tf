resource "aws_db_instance" "erp" {
  identifier        = "erp"
  engine            = "sqlserver-se"
  license_model     = "license-included"
  instance_class    = "db.m6i.xlarge"
  allocated_storage = 200
}
