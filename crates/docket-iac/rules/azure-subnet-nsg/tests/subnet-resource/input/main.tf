resource "azurerm_network_security_group" "app" {
  name                = "nsg-app"
  location            = "westeurope"
  resource_group_name = "rg-shop"
}

resource "azurerm_virtual_network" "shop" {
  name                = "vnet-shop"
  location            = "westeurope"
  resource_group_name = "rg-shop"
  address_space       = ["10.20.0.0/16"]
}

# Application tier.
resource "azurerm_subnet" "app" {
  name                 = "snet-app"
  resource_group_name  = "rg-shop"
  virtual_network_name = azurerm_virtual_network.shop.name
  address_prefixes     = ["10.20.1.0/24"]
}

resource "azurerm_private_dns_zone" "sql" {
  name                = "privatelink.database.windows.net"
  resource_group_name = "rg-shop"
}
