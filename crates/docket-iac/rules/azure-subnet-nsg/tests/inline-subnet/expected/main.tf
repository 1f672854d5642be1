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

  subnet {
    name           = "snet-app"
    address_prefix = "10.20.1.0/24"

    security_group = azurerm_network_security_group.app.id
  }

  subnet {
    name           = "snet-data"
    address_prefix = "10.20.2.0/24"
    security_group = azurerm_network_security_group.app.id
  }
}
