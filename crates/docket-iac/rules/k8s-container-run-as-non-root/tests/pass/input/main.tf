resource "kubernetes_pod_v1" "api" {
  metadata {
    name = "api"
  }

  spec {
    container {
      name  = "api"
      image = "acme/api:5.0"

      security_context {
        run_as_non_root = true
        run_as_user     = 10001
      }
    }
  }
}
