# Legacy cluster migrated from GKE 1.7.
resource "google_container_cluster" "legacy" {
  name               = "legacy-apps"
  location           = "europe-west1"
  initial_node_count = 3
  enable_legacy_abac = false

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }
}
