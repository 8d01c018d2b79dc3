"""Least-privilege IAM policies per process, from one table of what each role's code calls.

`ROLES` is the whole mapping: which DynamoDB operations each process issues, on which tables,
and whether on their indexes. `tests/integration/test_iam_operations.py` runs each role's code
paths and fails when an operation observed in `orderline_dynamodb_calls_total` is missing here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from orderline.adapters.dynamodb.tables import (
    FORUM_CONFLICTS,
    FORUM_TABLES,
    ORDER_DETAILS,
    ORDER_STATUS,
    ORDER_STATUS_LOG,
    ORDER_STATUS_METRICS,
    STREAM_LEASES,
    STREAM_TABLES,
    TABLES,
    TableSpec,
)

ALL_TABLES: tuple[str, ...] = ("*",)  # every table of the spec list the policy is built for
NO_TABLE: tuple[str, ...] = ()  # an operation on no table (ListTables): Resource "*"
READ_MODEL: tuple[str, ...] = tuple(spec.name for spec in TABLES)
FORUM: tuple[str, ...] = tuple(spec.name for spec in FORUM_TABLES)
SPECS: tuple[TableSpec, ...] = (*TABLES, *STREAM_TABLES, *FORUM_TABLES, FORUM_CONFLICTS)

# IAM has no TransactWriteItems action: a transaction is authorised item by item. The
# aggregator's transactions hold Update items only (asserted by a unit test); the forum's also
# Put (so mapped here), Delete and ConditionCheck (granted by name in FORUM_API).
OPERATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem"),
    "TransactGetItems": ("dynamodb:GetItem",),
}
INDEX_OPERATIONS = frozenset({"Query", "Scan"})  # the only operations that address an index
STREAM_OPERATIONS = ("DescribeStream", "GetRecords", "GetShardIterator")


@dataclass(frozen=True)
class Grant:
    """Operations on some tables (spec names), and whether on their indexes and streams too."""

    tables: tuple[str, ...]
    operations: tuple[str, ...]
    indexes: bool = False
    streams: bool = False


START_UP = Grant(READ_MODEL, ("DescribeTable", "DescribeTimeToLive"))  # ensure_tables' check
LEASES_START_UP = Grant((STREAM_LEASES.name,), ("DescribeTable",))  # every process checks it too
# projector: conditional puts of status and details, history by BatchWriteItem (counters are
# the aggregator's)
PROJECTION = (
    Grant((ORDER_STATUS.name, ORDER_DETAILS.name), ("PutItem",)),
    Grant((ORDER_STATUS_LOG.name,), ("BatchWriteItem",)),
)
# the counter aggregator: the history stream (its ARN from DescribeTable), the checkpoint
# transactions (Update items on counters and leases), leases taken, renewed, released
HISTORY_STREAM = Grant((ORDER_STATUS_LOG.name,), ("DescribeTable",), streams=True)
COUNTING = Grant((ORDER_STATUS_METRICS.name, STREAM_LEASES.name), ("TransactWriteItems",))
LEASING = Grant((STREAM_LEASES.name,), ("Query", "PutItem", "UpdateItem"))
READINESS = Grant(NO_TABLE, ("ListTables",))  # read_side_calls.ping
READ_PATH = (
    Grant((ORDER_STATUS.name,), ("GetItem", "BatchGetItem", "PutItem", "Query"), indexes=True),
    Grant((ORDER_DETAILS.name,), ("GetItem", "PutItem")),  # PutItem: filled from PostgreSQL
    Grant((ORDER_STATUS_LOG.name, ORDER_STATUS_METRICS.name), ("Query",)),
)
ADMIN = Grant(
    (*READ_MODEL, STREAM_LEASES.name),
    (
        "CreateTable",
        "DeleteTable",
        "DescribeTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "DescribeContinuousBackups",
    ),
)
# The forum (DynamoDB is its database): transactions hold Put, Update, Delete, ConditionCheck.
FORUM_API = Grant(
    FORUM,
    (
        "DescribeTable",
        "GetItem",
        "Query",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ConditionCheckItem",
    ),
    indexes=True,
)
FORUM_START_UP = Grant(FORUM, ("DescribeTable",))  # every process checks the forum's tables too
FORUM_OPS = Grant(  # import, seed, verify; `tables diff` over every table
    FORUM,
    ("CreateTable", "BatchGetItem", "Scan", "DescribeTimeToLive", "DescribeContinuousBackups"),
)
# `dr watch-conflicts`: the forum streams (leases as LEASING), the conflicts table it creates;
# `dr conflicts` scans it
CONFLICTS = (
    Grant(FORUM, ("DescribeTable",), streams=True),
    Grant((FORUM_CONFLICTS.name,), ("CreateTable", "DescribeTable", "PutItem", "Scan")),
)
RECONCILE = Grant((ORDER_STATUS.name, ORDER_DETAILS.name), ("BatchGetItem", "PutItem"))
# `reconcile` recounts the history; `counters rebuild` also rewrites counters and checkpoints
RECOUNT = Grant((ORDER_STATUS_LOG.name, ORDER_STATUS_METRICS.name), ("Scan",))
REBUILD = (
    Grant((ORDER_STATUS_METRICS.name,), ("BatchWriteItem",)),
    HISTORY_STREAM,
    LEASING,
)
# the Lambda on the history stream's event source mapping: Lambda reads the stream with the
# function's role (ListStreams has no resource-level permission), the handler reads and moves
# checkpoints in the lease table
COUNTERS_LAMBDA = (
    HISTORY_STREAM,
    Grant(NO_TABLE, ("ListStreams",)),
    COUNTING,
    Grant((STREAM_LEASES.name,), ("GetItem", "UpdateItem")),
)

# role -> what its process calls. One row per role; the forum adds its row with its own specs.
ROLES: dict[str, tuple[Grant, ...]] = {
    # `orderline serve`: reads, fills, write-through projection, start-up check, readiness
    # (with ORDERLINE_AGGREGATE=true on AWS, give it the aggregator's grants too)
    "api": (START_UP, LEASES_START_UP, *READ_PATH, *PROJECTION, READINESS, FORUM_API),
    # `orderline relay` with the in-process bus projects what it relays (Kafka: no DynamoDB)
    "relay": (START_UP, LEASES_START_UP, *PROJECTION, FORUM_START_UP),
    # `orderline project`: the Kafka projector
    "projector": (START_UP, LEASES_START_UP, *PROJECTION, FORUM_START_UP),
    # `orderline aggregate`: the counters from the history table's stream
    "aggregator": (START_UP, LEASES_START_UP, HISTORY_STREAM, COUNTING, LEASING),
    # the Lambda handler of `tables export --counters-lambda`
    "counters-lambda": COUNTERS_LAMBDA,
    # `orderline tables …`, `replay`, `reconcile --repair`, `counters rebuild`
    "ops": (ADMIN, *PROJECTION, RECONCILE, RECOUNT, *REBUILD, FORUM_API, FORUM_OPS, *CONFLICTS),
}


@dataclass(frozen=True)
class Target:
    """Where the policy applies: placeholders by default, for `Fn::Sub` or hand substitution."""

    account: str = "${AWS::AccountId}"
    region: str = "${AWS::Region}"
    prefix: str = "orderline-"
    partition: str = "aws"

    def table_arn(self, name: str) -> str:
        base = f"arn:{self.partition}:dynamodb:{self.region}:{self.account}"
        return f"{base}:table/{self.prefix}{name}"


def actions(operation: str) -> tuple[str, ...]:
    """The IAM actions one DynamoDB API operation needs."""
    return OPERATION_ACTIONS.get(operation, (f"dynamodb:{operation}",))


def granted(role: str, specs: Sequence[TableSpec] = SPECS) -> dict[str, set[str]]:
    """Operations allowed per table name (without prefix); `""` holds table-less operations."""
    allowed: dict[str, set[str]] = {}
    for grant in ROLES[role]:
        for name in _names(grant, specs) or [""]:
            allowed.setdefault(name, set()).update(grant.operations)
    return allowed


def granted_calls(role: str, specs: Sequence[TableSpec] = SPECS) -> dict[str, set[str]]:
    """`granted`, plus the Streams operations on the tables whose stream the role reads (a
    Streams call is counted under its table's name)."""
    allowed = granted(role, specs)
    for name in _names_where(role, specs, "streams"):
        allowed.setdefault(name, set()).update(STREAM_OPERATIONS)
    return allowed


def policy(role: str, target: Target, specs: Sequence[TableSpec] = SPECS) -> dict[str, object]:
    """The policy document for a role."""
    if role not in ROLES:
        raise KeyError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    tables: dict[tuple[str, ...], list[str]] = {}
    indexes: dict[tuple[str, ...], list[str]] = {}
    streams: list[str] = []
    for name, operations in sorted(granted(role, specs).items()):
        if not name:
            continue
        arn = target.table_arn(name)
        tables.setdefault(_actions_of(operations), []).append(arn)
        if name in _names_where(role, specs, "indexes"):
            index_actions = _actions_of(operations & INDEX_OPERATIONS)
            indexes.setdefault(index_actions, []).append(f"{arn}/index/*")
        if name in _names_where(role, specs, "streams"):
            streams.append(f"{arn}/stream/*")
    statements = [_statement("Tables", a, r) for a, r in tables.items()]
    statements += [_statement("Indexes", a, r) for a, r in indexes.items()]
    if streams:
        statements.append(_statement("Streams", _actions_of(set(STREAM_OPERATIONS)), streams))
    if "" in granted(role, specs):
        statements.append(_statement("NoTable", _actions_of(granted(role, specs)[""]), ["*"]))
    for number, statement in enumerate(statements):
        prefix = "".join(part.capitalize() for part in role.split("-"))  # Sids: A-Za-z0-9
        statement["Sid"] = f"{prefix}{statement['Sid']}{number}"
    return {"Version": "2012-10-17", "Statement": statements}


def render(role: str, target: Target, specs: Sequence[TableSpec] = SPECS) -> str:
    return json.dumps(policy(role, target, specs), indent=2) + "\n"


def stack_policy(role: str, replicas: Sequence[str] = ()) -> dict[str, object]:
    """`policy` for a CloudFormation role of the export: the stack's own ARNs, via `Fn::Sub`,
    and the same tables in each replica region (where reads, and forum writes, fail over)."""
    document = policy(role, Target(prefix="${TablePrefix}", partition="${AWS::Partition}"))
    for statement in document["Statement"]:  # type: ignore[attr-defined]
        resource = statement["Resource"]
        if resource != "*":
            names = [resource] if isinstance(resource, str) else resource
            names += [
                name.replace("${AWS::Region}", region)
                for region in replicas
                for name in names
                if "${AWS::Region}" in name
            ]
            statement["Resource"] = [{"Fn::Sub": name} for name in names]
    return document


def _names(grant: Grant, specs: Sequence[TableSpec]) -> list[str]:
    if grant.tables == ALL_TABLES:
        return [spec.name for spec in specs]
    known = {spec.name for spec in specs}
    return [name for name in grant.tables if name in known]


def _names_where(role: str, specs: Sequence[TableSpec], flag: str) -> set[str]:
    return {name for grant in ROLES[role] if getattr(grant, flag) for name in _names(grant, specs)}


def _actions_of(operations: set[str]) -> tuple[str, ...]:
    return tuple(sorted({action for operation in operations for action in actions(operation)}))


def _statement(sid: str, action: tuple[str, ...], resources: list[str]) -> dict[str, object]:
    resource: str | list[str] = resources[0] if resources == ["*"] else sorted(resources)
    return {"Sid": sid, "Effect": "Allow", "Action": list(action), "Resource": resource}
