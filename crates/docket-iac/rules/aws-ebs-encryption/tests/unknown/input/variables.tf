variable "encrypt_volumes" {
  description = "Whether data volumes are encrypted."
  type        = bool
}
