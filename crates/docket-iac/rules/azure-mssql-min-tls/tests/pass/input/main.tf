resource "azurerm_mssql_server" "erp" {
  name                = "sql-acme-erp"
  resource_group_name = "rg-erp"
  location            = "westeurope"
  version             = "12.0"
  minimum_tls_version = "1.2"

  azuread_administrator {
    login_username              = "sql-admins"
    object_id                   = "11111111-1111-1111-1111-111111111111"
    azuread_authentication_only = true
  }
}
