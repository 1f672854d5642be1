variable "namespace" {
  type    = string
  default = "cache"
}

variable "redis_image" {
  description = "Image of the session cache."
  type        = string
  default     = "redis:6.2.7"
}
