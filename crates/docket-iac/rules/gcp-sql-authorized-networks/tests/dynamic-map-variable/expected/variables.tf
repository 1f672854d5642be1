variable "region" {
  type    = string
  default = "us-central1"
}

variable "reporting_networks" {
  description = "Networks allowed to reach the reporting database, by name."
  type        = map(string)
  default     = {
    "gke-nodes" = "10.128.0.0/20"
  }
}
