variable "https_only" {
  type = bool
}

resource "azurerm_storage_account" "data" {
  name                      = "acmedata"
  resource_group_name       = "rg-data"
  location                  = "northeurope"
  account_tier              = "Standard"
  account_replication_type  = "ZRS"
  enable_https_traffic_only = var.https_only
}
