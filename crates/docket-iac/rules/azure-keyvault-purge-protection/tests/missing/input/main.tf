# Secrets for the payments service.
resource "azurerm_key_vault" "payments" {
  name                       = "kv-acme-payments"
  location                   = "westeurope"
  resource_group_name        = "rg-payments"
  tenant_id                  = "00000000-0000-0000-0000-000000000000"
  sku_name                   = "standard"
  soft_delete_retention_days = 90

  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
  }
}
