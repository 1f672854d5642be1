resource "kubernetes_deployment_v1" "sessions" {
  metadata {
    name      = "sessions"
    namespace = var.namespace
  }

  spec {
    replicas = 1

    selector {
      match_labels = {
        app = "sessions"
      }
    }

    template {
      metadata {
        labels = {
          app = "sessions"
        }
      }

      spec {
        container {
          name  = "redis"
          image = var.redis_image

          port {
            container_port = 6379
          }
        }

        container {
          name  = "exporter"
          image = "oliver006/redis_exporter:v1.61.0"
        }
      }
    }
  }
}
