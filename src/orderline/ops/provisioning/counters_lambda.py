"""The counter aggregator as a Lambda on the history table's stream, for the CloudFormation export
(`orderline tables export --counters-lambda`).

Adds the function (handler `orderline.streams.lambda_handler.handler`, code from an S3 zip of
Orderline and its dependencies), its role (the DynamoDB statements are `iam.policy` of the
`counters-lambda` role; logs and the failure queue beside them), an SQS queue that receives what
Lambda gave up on, and the event source mapping: one batch per shard at a time, partial batch
responses, bisect on error, and a tumbling window so that each event names its `shardId` (the
handler keeps its checkpoint per shard). A batch sent to the queue was not counted: repair with
`orderline counters rebuild`.
"""

from __future__ import annotations

from typing import Any

from . import iam
from .skips import skip_checks

ROLE = "counters-lambda"
HANDLER = "orderline.streams.lambda_handler.handler"
FUNCTION = "CountersFunction"
QUEUE = "CountersFailureQueue"
FUNCTION_NAME = {"Fn::Sub": "${TablePrefix}counters"}
COUNTER_SHARDS = {  # also a parameter of the services (`--services`): the same definition
    "CounterShards": {
        "Type": "Number",
        "Default": 4,
        "MinValue": 1,
        "MaxValue": 64,
        "Description": "ORDERLINE_COUNTER_SHARDS of the API (the counters' key shapes)",
    }
}


def parameters() -> dict[str, Any]:
    return {
        "CountersCodeBucket": {
            "Type": "String",
            "Description": "S3 bucket of the counters Lambda zip (Orderline and its dependencies)",
        },
        "CountersCodeKey": {
            "Type": "String",
            "Default": "orderline-lambda.zip",
            "Description": "S3 key of that zip",
        },
        **COUNTER_SHARDS,
    }


def resources(log_table_id: str) -> dict[str, Any]:
    """The queue, role, function and event source mapping on the table `log_table_id`."""
    return {
        QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"MessageRetentionPeriod": 1209600, "KmsMasterKeyId": "alias/aws/sqs"},
        },
        "CountersFunctionRole": _role(),
        FUNCTION: _function(),
        "CountersEventSourceMapping": _mapping(log_table_id),
    }


def _role() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {"PolicyName": "dynamodb", "PolicyDocument": iam.stack_policy(ROLE)},
                {"PolicyName": "logs-and-failures", "PolicyDocument": _logs_and_queue_policy()},
            ],
        },
    }


def _logs_and_queue_policy() -> dict[str, Any]:
    """Its own log group, and the failure queue (Lambda sends with the function's role)."""
    log_group = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "/aws/lambda/${TablePrefix}counters"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup"],
                "Resource": {"Fn::Sub": log_group},
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {"Fn::Sub": f"{log_group}:*"},
            },
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": {"Fn::GetAtt": [QUEUE, "Arn"]},
            },
        ],
    }


FUNCTION_SKIPS = {
    "CKV_AWS_116": "a dead-letter queue serves asynchronous invocations; a stream's event source "
    "mapping sends what it gave up on to CountersFailureQueue (its OnFailure destination)",
    "CKV_AWS_117": "calls only DynamoDB and its stream through their public endpoints; a VPC "
    "would need NAT or VPC endpoints and adds nothing",
    "CKV_AWS_115": "concurrency is bounded by the event source mapping: one batch per shard at "
    "a time (ParallelizationFactor 1)",
    "CKV_AWS_173": "the environment holds the table prefix, shard count and region, no secret",
}


def _function() -> dict[str, Any]:
    return skip_checks(_function_resource(), FUNCTION_SKIPS)


def _function_resource() -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": FUNCTION_NAME,
            "Description": "Orderline: status counters from the history table's stream",
            "Runtime": "python3.11",
            "Handler": HANDLER,
            "Code": {
                "S3Bucket": {"Ref": "CountersCodeBucket"},
                "S3Key": {"Ref": "CountersCodeKey"},
            },
            "Role": {"Fn::GetAtt": ["CountersFunctionRole", "Arn"]},
            "MemorySize": 512,
            "Timeout": 60,
            "Environment": {
                "Variables": {
                    "ORDERLINE_TABLE_PREFIX": {"Ref": "TablePrefix"},
                    "ORDERLINE_COUNTER_SHARDS": {"Ref": "CounterShards"},
                    "ORDERLINE_AWS_REGION": {"Ref": "AWS::Region"},
                }
            },
        },
    }


def _mapping(log_table_id: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": {"Fn::GetAtt": [log_table_id, "StreamArn"]},
            "FunctionName": {"Ref": FUNCTION},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 1,
            "ParallelizationFactor": 1,  # one batch per shard at a time, in order
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 50,
            "TumblingWindowInSeconds": 60,  # only for the event's `shardId`
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [QUEUE, "Arn"]}}},
        },
    }
