resource "kubernetes_cron_job_v1" "report" {
  metadata {
    name = "nightly-report"
  }

  spec {
    schedule = "0 2 * * *"

    job_template {
      metadata {}

      spec {
        template {
          metadata {}

          spec {
            restart_policy = "OnFailure"

            container {
              name  = "report"
              image = "acme/report:1.4"

              security_context {
                allow_privilege_escalation = true
              }
            }
          }
        }
      }
    }
  }
}
