resource "google_sql_database_instance" "billing" {
  name             = "billing-mysql"
  database_version = "MYSQL_8_0"
  region           = "us-central1"

  settings {
    tier              = "db-n1-standard-2"
    availability_type = "REGIONAL"

    backup_configuration {
      enabled            = true
      binary_log_enabled = true
    }

    ip_configuration {
      require_ssl = true
    }
  }

  deletion_protection = true
}
