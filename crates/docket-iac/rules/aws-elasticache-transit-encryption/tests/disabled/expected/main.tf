resource "aws_elasticache_replication_group" "cache" {
  replication_group_id = "app-cache"
  description          = "Session cache"
  engine               = "redis"
  node_type            = "cache.t4g.small"
  num_cache_clusters   = 2

  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
}
