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
              name    = "report"
              image   = "ghcr.io/acme/reporter:1.2.0"
              command = ["/bin/report", "--since=24h"]
            }
          }
        }
      }
    }
  }
}
