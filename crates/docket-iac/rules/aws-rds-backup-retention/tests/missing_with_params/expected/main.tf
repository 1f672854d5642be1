# Inventory service database.
resource "aws_db_instance" "inventory" {
  identifier        = "inventory"
  engine            = "mariadb"
  instance_class    = "db.t4g.medium"
  allocated_storage = 30

  tags = {
    Service = "inventory"
  }

  backup_retention_period = 14
  backup_window           = "03:00-04:00"
}
