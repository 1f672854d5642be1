variable "allowed" {
  type    = list(string)
  default = ["198.51.100.7/32", "0.0.0.0/0"]
}

resource "google_sql_database_instance" "x" {
  name             = "x"
  database_version = "POSTGRES_15"
  region           = "europe-west1"

  settings {
    tier = "db-f1-micro"

    ip_configuration {
      dynamic "authorized_networks" {
        for_each = var.allowed
        content {
          name  = "net-${authorized_networks.key}"
          value = authorized_networks.value
        }
      }
    }
  }
}
