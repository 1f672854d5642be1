resource "kubernetes_pod_v1" "debug" {
  metadata {
    name      = "debug"
    namespace = "ops"
  }

  spec {
    container {
      name    = "shell"
      image   = "busybox:1.36"
      command = ["sleep", "3600"]

      security_context {
        privileged                 = false
        allow_privilege_escalation = false
      }
    }
  }
}
