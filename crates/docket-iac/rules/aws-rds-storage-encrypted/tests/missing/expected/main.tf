# Orders database.
resource "aws_db_instance" "orders" {
  identifier        = "orders"
  engine            = "postgres"
  engine_version    = "16.3"
  instance_class    = "db.t4g.medium"
  allocated_storage = 50
  username          = "orders_admin"

  manage_master_user_password = true

  storage_encrypted = true
}
