resource "aws_db_instance" "analytics" {
  identifier        = "analytics"
  engine            = "postgres"
  instance_class    = "db.r6g.large"
  allocated_storage = 200
}
