# Development cluster.
resource "azurerm_kubernetes_cluster" "dev" {
  name                              = "aks-dev"
  location                          = "westeurope"
  resource_group_name               = "rg-dev"
  dns_prefix                        = "acme-dev"
  role_based_access_control_enabled = true

  default_node_pool {
    name       = "system"
    node_count = 2
    vm_size    = "Standard_D2s_v5"
  }

  identity {
    type = "SystemAssigned"
  }
}
