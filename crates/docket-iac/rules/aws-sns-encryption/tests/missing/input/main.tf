# Order events fan-out.
resource "aws_sns_topic" "orders" {
  name = "order-events"

  tags = {
    Team = "commerce"
  }
}
