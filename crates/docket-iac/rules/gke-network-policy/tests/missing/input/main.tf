# Shared services cluster.
resource "google_container_cluster" "shared" {
  name                     = "shared"
  location                 = "europe-west1"
  remove_default_node_pool = true
  initial_node_count       = 1

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }
}
