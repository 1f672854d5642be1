variable "rotate_keys" {
  type = bool
}
