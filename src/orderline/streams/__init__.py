"""DynamoDB Streams: a reader of our own (`reader.py`: shards and lineage, iterators, leases and
checkpoints in `leases.py`) and its first consumer, the counter aggregator (`counters.py`,
`counting.py`), which also runs as an AWS Lambda handler (`lambda_handler.py`); `recount.py`
compares the counters with the history table and rebuilds them from it."""
