resource "kubernetes_pod" "netdebug" {
  metadata {
    name = "netdebug"
  }

  spec {
    host_network = true
    dns_policy   = "ClusterFirstWithHostNet"

    container {
      name    = "netshoot"
      image   = "nicolaka/netshoot:v0.11"
      command = ["sleep", "infinity"]
    }
  }
}
