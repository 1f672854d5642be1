variable "namespace" {
  type    = string
  default = "cache"
}

variable "redis_image" {
  description = "Image of the session cache."
  type        = string
  default     = "redis:7.2.4"
}
