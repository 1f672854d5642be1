resource "aws_db_instance" "shop" {
  identifier        = "shop"
  engine            = "mysql"
  engine_version    = "8.0"
  instance_class    = "db.t4g.medium"
  allocated_storage = 20

  iam_database_authentication_enabled = true
}
