locals {
  partner_networks = {
    anywhere = "0.0.0.0/0"
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
