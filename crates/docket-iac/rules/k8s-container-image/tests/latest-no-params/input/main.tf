resource "kubernetes_pod_v1" "debug" {
  metadata {
    name      = "debug"
    namespace = "default"
  }

  spec {
    container {
      name    = "shell"
      image   = "nginx:latest"
      command = ["sleep", "infinity"]
    }
  }
}
