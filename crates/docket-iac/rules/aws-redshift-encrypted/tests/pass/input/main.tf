resource "aws_redshift_cluster" "warehouse" {
  cluster_identifier     = "warehouse"
  database_name          = "analytics"
  master_username        = "dwadmin"
  node_type              = "ra3.xlplus"
  number_of_nodes        = 2
  manage_master_password = true
  encrypted              = true
  kms_key_id             = aws_kms_key.redshift.arn
}

resource "aws_kms_key" "redshift" {
  description         = "Redshift warehouse"
  enable_key_rotation = true
}
