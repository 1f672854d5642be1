resource "google_sql_database_instance" "wiki" {
  name             = "wiki-pg"
  database_version = "POSTGRES_14"
  region           = "us-east1"

  settings {
    tier = "db-f1-micro"

    backup_configuration {
      start_time = "03:00"
    }
  }
}
