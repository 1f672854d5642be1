variable "legacy_abac" {
  type        = bool
  description = "Enable legacy ABAC authorization."
}

resource "google_container_cluster" "shared" {
  name               = "shared"
  location           = "us-central1"
  initial_node_count = 1
  enable_legacy_abac = var.legacy_abac
}
