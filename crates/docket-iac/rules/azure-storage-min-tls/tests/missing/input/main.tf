# Queue storage for the order pipeline.
resource "azurerm_storage_account" "orders" {
  name                     = "acmeorders"
  resource_group_name      = "rg-orders"
  location                 = "westeurope"
  account_tier             = "Standard"
  account_replication_type = "ZRS"

  tags = {
    team = "orders"
  }
}
