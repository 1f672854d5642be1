resource "aws_sns_topic" "orders" {
  name              = "order-events"
  kms_master_key_id = aws_kms_key.sns.id
}

resource "aws_kms_key" "sns" {
  description         = "SNS topics"
  enable_key_rotation = true
}
