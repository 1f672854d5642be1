locals {
  partner_networks = {
    "203-0-113-0-24"  = "203.0.113.0/24"
    "198-51-100-0-24" = "198.51.100.0/24"
  }
}

resource "google_sql_database_instance" "partners" {
  name             = "partners-pg"
  database_version = "POSTGRES_16"
  region           = "europe-west3"

  settings {
    tier = "db-custom-1-3840"

    ip_configuration {
      ipv4_enabled = true

      dynamic "authorized_networks" {
        for_each = local.partner_networks
        iterator = net
        content {
          name  = net.key
          value = net.value
        }
      }
    }
  }
}
