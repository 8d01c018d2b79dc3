"""Disaster recovery across DynamoDB regions: `dr status` (replicas, counts, replication lag by
canary) and `dr drill` (the home region taken out for the process: RTO and RPO measured)."""
