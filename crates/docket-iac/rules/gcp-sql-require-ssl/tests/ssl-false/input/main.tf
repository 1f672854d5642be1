# Primary orders database.
resource "google_sql_database_instance" "orders" {
  name             = "orders-pg"
  database_version = "POSTGRES_15"
  region           = "europe-west1"

  settings {
    tier = "db-custom-2-7680"

    ip_configuration {
      ipv4_enabled    = false
      private_network = "projects/acme/global/networks/core"
      require_ssl     = false
    }
  }
}
