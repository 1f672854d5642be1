variable "environment" {
  type    = string
  default = "prod"
}

variable "data_kms_key_arn" {
  description = "Customer managed key for the data lake buckets."
  type        = string
  default     = "arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
}
