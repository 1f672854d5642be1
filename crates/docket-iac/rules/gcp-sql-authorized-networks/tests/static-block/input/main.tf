resource "google_sql_database_instance" "legacy" {
  name             = "legacy-mysql"
  database_version = "MYSQL_5_7"
  region           = "europe-west1"

  settings {
    tier = "db-n1-standard-1"

    ip_configuration {
      ipv4_enabled = true

      # Opened during the data center migration.
      authorized_networks {
        name  = "migration"
        value = "0.0.0.0/0"
      }
    }
  }
}
