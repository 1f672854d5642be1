resource "google_sql_database_instance" "reporting" {
  name             = "reporting-pg"
  database_version = "POSTGRES_15"
  region           = var.region

  settings {
    tier = "db-custom-2-7680"

    ip_configuration {
      ipv4_enabled = true
      require_ssl  = true

      dynamic "authorized_networks" {
        for_each = var.reporting_networks
        content {
          name  = authorized_networks.key
          value = authorized_networks.value
        }
      }
    }
  }
}

resource "google_sql_database_instance" "analytics" {
  name             = "analytics-pg"
  database_version = "POSTGRES_15"
  region           = var.region

  settings {
    tier = "db-custom-4-15360"

    ip_configuration {
      ipv4_enabled = true
      require_ssl  = true

      authorized_networks {
        name  = "gke-nodes"
        value = "10.128.0.0/20"
      }
    }
  }
}
