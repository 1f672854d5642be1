variable "ops_cidrs" {
  description = "Ranges the operations team connects from."
  type        = list(string)
  default     = ["10.0.0.0/8"]
}
