resource "aws_cloudwatch_log_group" "audit" {
  name = "/audit/events"
}
