variable "encrypt_storage" {
  type = bool
}
