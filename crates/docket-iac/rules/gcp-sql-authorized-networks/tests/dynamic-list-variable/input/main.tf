resource "google_sql_database_instance" "warehouse" {
  name             = "warehouse-pg"
  database_version = "POSTGRES_15"
  region           = "europe-west1"

  settings {
    tier = "db-custom-4-15360"

    ip_configuration {
      ipv4_enabled = true
      require_ssl  = true

      dynamic "authorized_networks" {
        for_each = var.bi_tool_ranges
        content {
          name  = "bi-tool-${authorized_networks.key}"
          value = authorized_networks.value
        }
      }
    }
  }
}
