resource "azurerm_kubernetes_cluster" "prod" {
  name                = "aks-prod"
  location            = "westeurope"
  resource_group_name = "rg-prod"
  dns_prefix          = "acme-prod"

  default_node_pool {
    name       = "system"
    node_count = 3
    vm_size    = "Standard_D4s_v5"
  }

  identity {
    type = "SystemAssigned"
  }
}
