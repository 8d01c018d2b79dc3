"""Customer-managed KMS keys of the export: the backup vault's and the services' log groups'."""

from __future__ import annotations

from typing import Any

ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def kms_key(
    description: str, extra_statements: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A rotating symmetric key the account administers through IAM (the default key policy),
    plus `extra_statements` for services that use it under their own principal."""
    administer = {
        "Sid": "AccountAdministersThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",  # what it encrypted outlives the stack, so must the key
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": description,
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [administer, *(extra_statements or [])],
            },
        },
    }


def logs_statement() -> dict[str, Any]:
    """CloudWatch Logs may use the key for this account's log groups in the stack's region."""
    log_groups = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
    return {
        "Sid": "CloudWatchLogsEncryptsTheLogGroups",
        "Effect": "Allow",
        "Principal": {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}},
        "Action": [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
        ],
        "Resource": "*",
        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {"Fn::Sub": log_groups}}},
    }
