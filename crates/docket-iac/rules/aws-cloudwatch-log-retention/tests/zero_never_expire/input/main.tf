resource "aws_cloudwatch_log_group" "audit" {
  name              = "/audit/events"
  retention_in_days = 0
}
