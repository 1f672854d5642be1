resource "google_sql_database_instance" "payments" {
  name             = "payments-pg"
  database_version = "POSTGRES_15"
  region           = "europe-west1"

  settings {
    tier = "db-custom-4-15360"

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "01:00"
    }
  }
}
