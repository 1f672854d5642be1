resource "azurerm_mssql_server" "legacy" {
  name                         = "sql-acme-legacy"
  resource_group_name          = "rg-legacy"
  location                     = "northeurope"
  version                      = "12.0"
  administrator_login          = "legacyadmin"
  administrator_login_password = "change-me-in-key-vault"
  minimum_tls_version          = "1.1"
}
