"""Operations tools the `orderline` CLI runs; no serving process imports them.

    provisioning/   AWS from the table specs: CloudFormation, alarms, IAM, drift, cost
    bulk/           moving every item of a table: backup, restore, AWS-native backups
    table_copy/     migrate-table, item transforms, the steps of a zero-downtime migration
    dr/             dr status (replicas, counts, replication lag) and dr drill (RTO, RPO)

Run-time code lives elsewhere: the table router of a zero-downtime migration in
readmodel/table_migration.py, the retention loop in workers/retention.py.
"""
