# Checkout API with its log shipper.
resource "kubernetes_deployment_v1" "checkout" {
  metadata {
    name      = "checkout"
    namespace = "shop"
  }

  spec {
    replicas = 3

    selector {
      match_labels = {
        app = "checkout"
      }
    }

    template {
      metadata {
        labels = {
          app = "checkout"
        }
      }

      spec {
        container {
          name  = "api"
          image = "ghcr.io/acme/checkout:2.8.1"

          port {
            container_port = 8080
          }

          resources {
            requests = {
              cpu    = "250m"
              memory = "256Mi"
            }
            limits = {
              cpu    = "500m"
              memory = "512Mi"
            }
          }
        }

        container {
          name  = "log-shipper"
          image = "fluent/fluent-bit:3.0.7"

          resources {
            requests = {
              cpu    = "250m"
              memory = "256Mi"
            }
            limits = {
              cpu    = "500m"
              memory = "512Mi"
            }
          }
        }
      }
    }
  }
}
