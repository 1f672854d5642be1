# Order events fan-out.
resource "aws_sns_topic" "orders" {
  name = "order-events"

  tags = {
    Team = "commerce"
  }

  kms_master_key_id = "alias/aws/sns"
}
