resource "kubernetes_daemon_set_v1" "node_exporter" {
  metadata {
    name      = "node-exporter"
    namespace = "monitoring"
  }

  spec {
    selector {
      match_labels = {
        app = "node-exporter"
      }
    }

    template {
      metadata {
        labels = {
          app = "node-exporter"
        }
      }

      spec {
        container {
          name  = "exporter"
          image = "prom/node-exporter:v1.7.0"

          security_context {
            run_as_non_root           = false
            read_only_root_filesystem = true
          }
        }
      }
    }
  }
}
