# Node-level log collector.
resource "kubernetes_daemon_set_v1" "collector" {
  metadata {
    name      = "collector"
    namespace = "logging"
  }

  spec {
    selector {
      match_labels = {
        app = "collector"
      }
    }

    template {
      metadata {
        labels = {
          app = "collector"
        }
      }

      spec {
        host_network = true

        container {
          name  = "collector"
          image = "fluent/fluent-bit:2.2"
        }
      }
    }
  }
}
