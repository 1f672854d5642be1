resource "google_sql_database_instance" "analytics" {
  name             = "analytics-pg"
  database_version = "POSTGRES_14"
  region           = "europe-west4"

  settings {
    tier = "db-custom-4-15360"

    ip_configuration {
      ipv4_enabled = true

      authorized_networks {
        name  = "office"
        value = "203.0.113.0/24"
      }
    }
  }
}
