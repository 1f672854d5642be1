variable "bi_tool_ranges" {
  description = "Egress ranges of the hosted BI tool."
  type        = list(string)
  default     = ["198.51.100.7/32", "198.51.100.8/32"]
}
