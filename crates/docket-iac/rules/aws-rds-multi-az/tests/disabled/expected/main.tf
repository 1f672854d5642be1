resource "aws_db_instance" "billing" {
  identifier        = "billing"
  engine            = "mysql"
  instance_class    = "db.m6g.large"
  allocated_storage = 100
  multi_az          = true
}
