resource "aws_redshift_cluster" "warehouse" {
  cluster_identifier = "warehouse"
  database_name      = "analytics"
  master_username    = "dwadmin"
  node_type          = "ra3.xlplus"
  cluster_type       = "multi-node"
  number_of_nodes    = 2

  manage_master_password = true

  encrypted = true
}
