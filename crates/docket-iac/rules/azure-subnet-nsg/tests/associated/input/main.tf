resource "azurerm_network_security_group" "web" {
  name                = "nsg-web"
  location            = "westeurope"
  resource_group_name = "rg-web"
}

resource "azurerm_virtual_network" "web" {
  name                = "vnet-web"
  location            = "westeurope"
  resource_group_name = "rg-web"
  address_space       = ["10.30.0.0/16"]
}

resource "azurerm_subnet" "web" {
  name                 = "snet-web"
  resource_group_name  = "rg-web"
  virtual_network_name = azurerm_virtual_network.web.name
  address_prefixes     = ["10.30.1.0/24"]
}

resource "azurerm_subnet_network_security_group_association" "web" {
  subnet_id                 = azurerm_subnet.web.id
  network_security_group_id = azurerm_network_security_group.web.id
}
