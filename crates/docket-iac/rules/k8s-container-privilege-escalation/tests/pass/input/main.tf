resource "kubernetes_job_v1" "migrate" {
  metadata {
    name = "db-migrate"
  }

  spec {
    template {
      metadata {}

      spec {
        restart_policy = "Never"

        container {
          name  = "migrate"
          image = "acme/migrate:3.0"

          security_context {
            allow_privilege_escalation = false
            run_as_non_root            = true
          }
        }
      }
    }
  }
}
