terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 4.9, < 6.0"
    }
  }
}
