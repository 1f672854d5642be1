# Web front end with a log shipper sidecar.
resource "kubernetes_deployment_v1" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }

  spec {
    replicas = 2

    selector {
      match_labels = {
        app = "web"
      }
    }

    template {
      metadata {
        labels = {
          app = "web"
        }
      }

      spec {
        container {
          name  = "web"
          image = "nginx:1.25"
        }

        container {
          name  = "log-shipper"
          image = "fluent/fluent-bit:2.2"

          security_context {
            read_only_root_filesystem = true
          }
        }
      }
    }
  }
}
