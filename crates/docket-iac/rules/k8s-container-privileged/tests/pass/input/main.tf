resource "kubernetes_stateful_set_v1" "cache" {
  metadata {
    name = "cache"
  }

  spec {
    service_name = "cache"

    selector {
      match_labels = {
        app = "cache"
      }
    }

    template {
      metadata {
        labels = {
          app = "cache"
        }
      }

      spec {
        container {
          name  = "redis"
          image = "redis:7.2"

          security_context {
            privileged = false
          }
        }

        container {
          name  = "exporter"
          image = "oliver006/redis_exporter:v1.58.0"
        }
      }
    }
  }
}
