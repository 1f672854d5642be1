resource "aws_db_instance" "billing" {
  identifier        = "billing"
  engine            = "mysql"
  instance_class    = "db.m6g.large"
  allocated_storage = 100
  storage_encrypted = true

  tags = {
    Team = "payments"
  }

  multi_az = true
}
