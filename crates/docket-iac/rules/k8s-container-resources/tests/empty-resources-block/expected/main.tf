resource "kubernetes_pod_v1" "toolbox" {
  metadata {
    name      = "toolbox"
    namespace = "ops"
  }

  spec {
    container {
      name    = "toolbox"
      image   = "busybox:1.36.1"
      command = ["sleep", "3600"]

      resources {
        requests = {
          cpu    = "50m"
          memory = "32Mi"
        }
        limits = {
          cpu    = "100m"
          memory = "64Mi"
        }
      }
    }
  }
}
