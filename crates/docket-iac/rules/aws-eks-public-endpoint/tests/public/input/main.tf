resource "aws_eks_cluster" "main" {
  name     = "platform"
  role_arn = aws_iam_role.cluster.arn
  version  = "1.30"

  vpc_config {
    subnet_ids             = ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
    endpoint_public_access = true
  }
}
