resource "kubernetes_stateful_set_v1" "queue" {
  metadata {
    name = "queue"
  }

  spec {
    service_name = "queue"

    selector {
      match_labels = {
        app = "queue"
      }
    }

    template {
      metadata {
        labels = {
          app = "queue"
        }
      }

      spec {
        container {
          name  = "rabbitmq"
          image = "rabbitmq:3.13.3-management"

          resources {
            requests = {
              cpu    = "500m"
              memory = "1Gi"
            }
            limits = {
              cpu    = "1"
              memory = "1Gi"
            }
          }
        }
      }
    }
  }
}
