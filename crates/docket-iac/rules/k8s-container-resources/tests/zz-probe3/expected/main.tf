resource "kubernetes_pod_v1" "p" {
  metadata {
    name = "p"
  }

  spec {
    container {
      name  = "c"
      image = "busybox:1.36"

      resources {}
    }
  }
}
