resource "kubernetes_job_v1" "migrate" {
  metadata {
    name = "db-migrate"
  }

  spec {
    backoff_limit = 2

    template {
      metadata {}

      spec {
        restart_policy = "Never"

        container {
          name    = "migrate"
          image   = "ghcr.io/acme/migrations:2024.06.1"
          command = ["/app/migrate", "up"]
        }

        container {
          name  = "proxy"
          image = "gcr.io/cloud-sql-connectors/cloud-sql-proxy@sha256:4f6c6dd39a2d8a4b9c2e1b5f8e3a1d0c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f21"
        }
      }
    }
  }
}
