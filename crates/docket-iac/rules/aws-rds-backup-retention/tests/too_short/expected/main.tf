resource "aws_db_instance" "crm" {
  identifier              = "crm"
  engine                  = "postgres"
  instance_class          = "db.t4g.large"
  allocated_storage       = 40
  backup_retention_period = 7
}
