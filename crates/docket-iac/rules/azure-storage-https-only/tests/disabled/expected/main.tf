# Static assets for the legacy site.
resource "azurerm_storage_account" "assets" {
  name                      = "acmeassets"
  resource_group_name       = "rg-web"
  location                  = "westeurope"
  account_tier              = "Standard"
  account_replication_type  = "LRS"
  enable_https_traffic_only = true

  tags = {
    team = "web"
  }
}
