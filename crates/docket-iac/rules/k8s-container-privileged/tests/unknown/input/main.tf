variable "privileged" {
  type = bool
}

resource "kubernetes_pod_v1" "agent" {
  metadata {
    name = "agent"
  }

  spec {
    container {
      name  = "agent"
      image = "acme/agent:2.1"

      security_context {
        privileged = var.privileged
      }
    }
  }
}
