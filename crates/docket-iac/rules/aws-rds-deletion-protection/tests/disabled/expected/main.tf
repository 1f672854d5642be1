resource "aws_db_instance" "ledger" {
  identifier          = "ledger"
  engine              = "postgres"
  instance_class      = "db.m6g.large"
  allocated_storage   = 100
  deletion_protection = true
}
