# Hourly cache warmer.
resource "kubernetes_cron_job_v1" "warm_cache" {
  metadata {
    name = "warm-cache"
  }

  spec {
    schedule = "0 * * * *"

    job_template {
      metadata {}

      spec {
        template {
          metadata {}

          spec {
            restart_policy = "OnFailure"

            container {
              name    = "warm"
              image   = "acme/cache-tools:1.2"
              command = ["warm", "--all"]

              security_context {
                run_as_non_root = true
              }
            }
          }
        }
      }
    }
  }
}
