# SQL server for the CRM.
resource "azurerm_mssql_server" "crm" {
  name                         = "sql-acme-crm"
  resource_group_name          = "rg-crm"
  location                     = "westeurope"
  version                      = "12.0"
  administrator_login          = "crmadmin"
  administrator_login_password = "change-me-in-key-vault"

  azuread_administrator {
    login_username = "sql-admins"
    object_id      = "11111111-1111-1111-1111-111111111111"
  }

  minimum_tls_version = "1.2"
}
