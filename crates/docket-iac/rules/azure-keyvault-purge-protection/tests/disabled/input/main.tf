resource "azurerm_key_vault" "ci" {
  name                     = "kv-acme-ci"
  location                 = "northeurope"
  resource_group_name      = "rg-ci"
  tenant_id                = "00000000-0000-0000-0000-000000000000"
  sku_name                 = "standard"
  purge_protection_enabled = false
}
