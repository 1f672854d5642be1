# Search cluster.
resource "kubernetes_stateful_set_v1" "search" {
  metadata {
    name = "search"
  }

  spec {
    service_name = "search"
    replicas     = 3

    selector {
      match_labels = {
        app = "search"
      }
    }

    template {
      metadata {
        labels = {
          app = "search"
        }
      }

      spec {
        container {
          name  = "opensearch"
          image = "opensearchproject/opensearch:2.11.1"
        }

        container {
          name  = "metrics"
          image = "acme/search-metrics:0.9"

          security_context {
            read_only_root_filesystem = false
            run_as_non_root           = true
          }
        }
      }
    }
  }
}
