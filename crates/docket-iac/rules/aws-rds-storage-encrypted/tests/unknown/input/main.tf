resource "aws_db_instance" "reports" {
  identifier        = "reports"
  engine            = "mysql"
  instance_class    = "db.t4g.small"
  allocated_storage = 20
  storage_encrypted = var.encrypt_storage
}
