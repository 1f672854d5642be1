resource "azurerm_network_security_group" "windows" {
  name                = "nsg-windows"
  location            = "northeurope"
  resource_group_name = "rg-apps"

  security_rule {
    name                       = "rdp"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_range     = "3389"
    source_address_prefixes    = ["203.0.113.0/24", "0.0.0.0/0"]
    destination_address_prefix = "*"
  }
}
