resource "azurerm_storage_account" "backups" {
  name                     = "acmebackups"
  resource_group_name      = "rg-platform"
  location                 = "westeurope"
  account_tier             = "Standard"
  account_replication_type = "GRS"
  min_tls_version          = "TLS1_2"
}
