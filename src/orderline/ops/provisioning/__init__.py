"""AWS infrastructure from the table specs (adapters/dynamodb/tables.py), and checks against it.

cloudformation.py  `orderline tables export`: the CloudFormation template (tables, alarms,
                   IAM policies)
alarms.py          CloudWatch alarms per table and their default thresholds
counters_lambda.py `tables export --counters-lambda`: the counter aggregator as a Lambda on the
                   history stream (function, role, event source mapping, failure queue)
iam.py             ROLES: what each process calls, and its least-privilege policy
                   (`orderline iam-policy`)
drift.py           `orderline tables diff`: live tables against their specs
cost.py            `orderline cost`: monthly cost, on demand and provisioned, per item kind
cost_recording.py  the items the real projector and aggregator write per order, recorded
"""
