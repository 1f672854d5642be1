resource "google_sql_database_instance" "cms" {
  name             = "cms-mysql"
  database_version = "MYSQL_8_0"
  region           = "us-east1"

  settings {
    tier = "db-n1-standard-1"

    backup_configuration {
      enabled    = false
      start_time = "02:00"
    }
  }
}
