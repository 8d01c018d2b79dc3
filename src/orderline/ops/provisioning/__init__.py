"""AWS infrastructure from the table specs (adapters/dynamodb/tables.py), and checks against it.

cloudformation.py  `orderline tables export`: the CloudFormation template (tables, alarms,
                   IAM policies)
alarms.py          CloudWatch alarms per table and their default thresholds
counters_lambda.py `tables export --counters-lambda`: the counter aggregator as a Lambda on the
                   history stream (function, role, event source mapping, failure queue)
iam.py             ROLES: what each process calls, and its least-privilege policy
                   (`orderline iam-policy`; `stack_policy`: the same in a template)
backup_plan.py     `tables export` (--backup, on by default): AWS Backup vault, daily plan with
                   the DR region's copy, selection of every table, service role;
                   `--backup-vault-only`: the DR region's vault stack
ecs_services.py    `tables export --services`: ECS Fargate task definition, service, log group
                   and task role per process kind (api, relay, projector, aggregator)
keys.py            the KMS keys of the backup vault and the services' log groups
skips.py           checkov checks the template skips, each with its reason
drift.py           `orderline tables diff`: live tables against their specs
cost.py            `orderline cost`: monthly cost, on demand and provisioned, per item kind
cost_recording.py  the items the real projector and aggregator write per order, recorded
"""
