resource "google_sql_database_instance" "billing" {
  name             = "billing-mysql"
  database_version = "MYSQL_8_0"
  region           = "europe-west1"

  settings {
    tier = "db-n1-standard-2"

    ip_configuration {
      ipv4_enabled = true
      require_ssl  = true

      authorized_networks {
        name  = "corp"
        value = "10.0.0.0/8"
      }
    }
  }
}
