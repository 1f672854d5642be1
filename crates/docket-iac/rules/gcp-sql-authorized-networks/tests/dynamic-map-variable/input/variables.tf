variable "region" {
  type    = string
  default = "us-central1"
}

variable "reporting_networks" {
  description = "Networks allowed to reach the reporting database, by name."
  type        = map(string)
  default     = { "allow-all" = "0.0.0.0/0" }
}
