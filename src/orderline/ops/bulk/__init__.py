"""Moving every item of a table: backup, restore, and DynamoDB's own backups.

backup.py          `orderline backup`: the plan, parallel scans into segment files, resume
restore.py         `orderline restore`: verify, create tables, write files, resume (journal)
manifest.py        manifest.json: table definitions, files, outbox position; table selection
files.py           segment files written durably; checksums verified (`verify`)
scan.py            parallel Segment/TotalSegments scans, exact item counts
writer.py          BatchWriteItem with UnprocessedItems retried
limiter.py         the capacity-unit rate limit scans and writers share
schema.py          CreateTable from a backup definition, then TTL, tags, PITR
dynamodb_http.py   DynamoDB's JSON protocol over aiohttp (SigV4, retries): `Wire`, `open_wire`
native.py          `orderline tables backups|pitr`: AWS-native backups and point-in-time
                   recovery
"""
