# Dataplane V2 enforces network policies itself.
resource "google_container_cluster" "edge" {
  name                     = "edge"
  location                 = "europe-west1"
  remove_default_node_pool = true
  initial_node_count       = 1
  datapath_provider        = "ADVANCED_DATAPATH"
}
