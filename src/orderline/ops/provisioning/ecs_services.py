"""ECS on Fargate for `tables export --services`: a task definition and a service per process.

One image (the repository's Dockerfile) runs every process; `ORDERLINE_PROCESS` picks it
(`deploy/entrypoint.sh`). Each process's task role holds exactly its row of the IAM table
(`iam.stack_policy`, the policy `orderline iam-policy --role R` prints); one execution role
pulls the image, writes the logs and reads the two secrets. The cluster, subnets, security
groups, image and secrets are parameters; the API joins an existing target group when one is
given (the load balancer stays outside this stack). The projector exists only with Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import iam
from .counters_lambda import COUNTER_SHARDS
from .keys import kms_key, logs_statement

HAS_KAFKA = "HasKafka"
HAS_TARGET_GROUP = "HasApiTargetGroup"
EXECUTION_ROLE = "ServiceExecutionRole"
LOG_KEY = "ServiceLogKey"
ENTRYPOINT = "/app/deploy/entrypoint.sh"
API_PORT = 8000
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]


@dataclass(frozen=True)
class ProcessKind:
    """One process of the deployment table in docs/deployment.md."""

    name: str  # ORDERLINE_PROCESS and the `iam.ROLES` row
    command: str  # what deploy/entrypoint.sh runs
    port: int  # the API's listen port, a worker's /metrics port
    count: int  # default desired count
    database: bool = True  # reads ORDERLINE_DATABASE_URL
    condition: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    cpu: str = "256"
    memory: str = "512"

    @property
    def title(self) -> str:
        return self.name.capitalize()


KINDS = (
    ProcessKind(
        "api",
        "orderline serve --no-workers",
        API_PORT,
        2,
        environment={"ORDERLINE_PORT": str(API_PORT), "ORDERLINE_WORKERS": "false"},
        cpu="512",
        memory="1024",
    ),
    ProcessKind("relay", "orderline relay", 9101, 1),
    ProcessKind("projector", "orderline project", 9102, 2, condition=HAS_KAFKA),
    ProcessKind("aggregator", "orderline aggregate", 9103, 1, database=False),
)


def parameters() -> dict[str, Any]:
    found: dict[str, Any] = {
        "ServiceImage": _text(
            "The Orderline image (Dockerfile), e.g. ACCOUNT.dkr.ecr.REGION."
            "amazonaws.com/orderline:1.2.3"
        ),
        "EcsCluster": _text("Name or ARN of the ECS cluster the services run in"),
        "ServiceSubnets": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Private subnets of the tasks (no public IP is assigned)",
        },
        "ServiceSecurityGroups": {
            "Type": "List<AWS::EC2::SecurityGroup::Id>",
            "Description": "Security groups of the tasks (PostgreSQL, Kafka and the API port)",
        },
        "DatabaseUrlSecretArn": _text("Secrets Manager secret: ORDERLINE_DATABASE_URL"),
        "CursorSecretArn": _text("Secrets Manager secret: ORDERLINE_CURSOR_SECRET (the API's)"),
        "JwtJwksUrl": {
            **_text("ORDERLINE_JWT_JWKS_URL: the identity provider's keys (the API's)"),
            "AllowedPattern": "https://.+",
        },
        "KafkaBootstrapServers": {
            **_text(
                "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS; empty: no Kafka, the relay projects "
                "and no projector runs"
            ),
            "Default": "",
        },
        "ApiTargetGroupArn": {
            **_text(
                "Existing target group (port 8000, health check /health) the API joins; empty: none"
            ),
            "Default": "",
        },
        "TrustedProxies": {**_text("ORDERLINE_TRUSTED_PROXIES of the API"), "Default": ""},
        "ServiceLogRetentionDays": {
            "Type": "Number",
            "Default": 365,
            "AllowedValues": RETENTION_DAYS,
            "Description": "Days the services' log groups keep their logs",
        },
        **COUNTER_SHARDS,
    }
    for kind in KINDS:
        found[f"{kind.title}Count"] = {
            "Type": "Number",
            "Default": kind.count,
            "MinValue": 0,
            "Description": f"Tasks of `{kind.command}`",
        }
    return found


def conditions() -> dict[str, Any]:
    return {
        HAS_KAFKA: _not_empty("KafkaBootstrapServers"),
        HAS_TARGET_GROUP: _not_empty("ApiTargetGroupArn"),
    }


def resources(replicas: tuple[str, ...] = ()) -> dict[str, Any]:
    """The log key, the execution role, and per process a log group, role, task and service;
    `replicas`: the global tables' replica regions, where reads fail over to."""
    found: dict[str, Any] = {
        LOG_KEY: kms_key("Orderline: the services' CloudWatch log groups", [logs_statement()]),
        EXECUTION_ROLE: _execution_role(),
    }
    for kind in KINDS:
        kind_resources = {
            f"{kind.title}LogGroup": _log_group(kind),
            f"{kind.title}TaskRole": _task_role(kind, replicas),
            f"{kind.title}TaskDefinition": _task_definition(kind, replicas),
            f"{kind.title}Service": _service(kind),
        }
        for name, resource in kind_resources.items():
            found[name] = {**resource, "Condition": kind.condition} if kind.condition else resource
    return found


def _text(description: str) -> dict[str, Any]:
    return {"Type": "String", "Description": description}


def _not_empty(parameter: str) -> dict[str, Any]:
    return {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


def _assumed_by_ecs_tasks() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _execution_role() -> dict[str, Any]:
    """Pulls the image, writes the logs (AWS's managed policy), reads the two secrets."""
    secrets = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [{"Ref": "DatabaseUrlSecretArn"}, {"Ref": "CursorSecretArn"}],
            }
        ],
    }
    managed = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "ECS starts the Orderline tasks: image, logs, secrets",
            "AssumeRolePolicyDocument": _assumed_by_ecs_tasks(),
            "ManagedPolicyArns": [{"Fn::Sub": managed}],
            "Policies": [{"PolicyName": "secrets", "PolicyDocument": secrets}],
        },
    }


def _task_role(kind: ProcessKind, replicas: tuple[str, ...] = ()) -> dict[str, Any]:
    """The process's own DynamoDB grants: its row of the IAM table, in the home region and
    each replica region, nothing else."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"`{kind.command}`: the DynamoDB calls of iam.ROLES[{kind.name!r}]",
            "AssumeRolePolicyDocument": _assumed_by_ecs_tasks(),
            "Policies": [
                {"PolicyName": "dynamodb", "PolicyDocument": iam.stack_policy(kind.name, replicas)}
            ],
        },
    }


def _log_group(kind: ProcessKind) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": _log_group_name(kind),
            "RetentionInDays": {"Ref": "ServiceLogRetentionDays"},
            "KmsKeyId": {"Fn::GetAtt": [LOG_KEY, "Arn"]},
        },
    }


def _log_group_name(kind: ProcessKind) -> dict[str, str]:
    return {"Fn::Sub": f"/ecs/${{TablePrefix}}{kind.name}"}


def _environment(kind: ProcessKind, replicas: tuple[str, ...] = ()) -> list[Any]:
    plain = {
        "ORDERLINE_PROCESS": kind.name,
        "ORDERLINE_HOST": "0.0.0.0",  # the task's own interface, behind its SG
        "ORDERLINE_DATA_DIR": "/tmp/orderline",  # the task's scratch volume
        "ORDERLINE_AGGREGATE": "false",  # the aggregator service counts
        "ORDERLINE_METRICS_PORT": str(kind.port) if kind.name != "api" else "0",
        **kind.environment,
    }
    variables: list[Any] = [{"Name": name, "Value": value} for name, value in plain.items()]
    variables += [
        {"Name": "ORDERLINE_AWS_REGION", "Value": {"Ref": "AWS::Region"}},
        {
            "Name": "ORDERLINE_DYNAMODB_ENDPOINT",
            "Value": {"Fn::Sub": "https://dynamodb.${AWS::Region}.${AWS::URLSuffix}"},
        },
        {"Name": "ORDERLINE_TABLE_PREFIX", "Value": {"Ref": "TablePrefix"}},
        {"Name": "ORDERLINE_COUNTER_SHARDS", "Value": {"Ref": "CounterShards"}},
    ]
    if replicas:  # AWS's endpoints: no ORDERLINE_DYNAMODB_REGION_ENDPOINTS needed
        variables.append(
            {"Name": "ORDERLINE_DYNAMODB_REPLICA_REGIONS", "Value": ",".join(replicas)}
        )
    kafka = {"Name": "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS", "Value": {"Ref": "KafkaBootstrapServers"}}
    if kind.condition == HAS_KAFKA:
        variables.append(kafka)
    else:
        variables.append({"Fn::If": [HAS_KAFKA, kafka, {"Ref": "AWS::NoValue"}]})
    if kind.name == "api":
        variables.append({"Name": "ORDERLINE_JWT_JWKS_URL", "Value": {"Ref": "JwtJwksUrl"}})
        variables.append({"Name": "ORDERLINE_TRUSTED_PROXIES", "Value": {"Ref": "TrustedProxies"}})
    return variables


def _secrets(kind: ProcessKind) -> list[dict[str, Any]]:
    found = []
    if kind.database:
        found.append(
            {"Name": "ORDERLINE_DATABASE_URL", "ValueFrom": {"Ref": "DatabaseUrlSecretArn"}}
        )
    if kind.name == "api":
        found.append({"Name": "ORDERLINE_CURSOR_SECRET", "ValueFrom": {"Ref": "CursorSecretArn"}})
    return found


def _container(kind: ProcessKind, replicas: tuple[str, ...] = ()) -> dict[str, Any]:
    container: dict[str, Any] = {
        "Name": kind.name,
        "Image": {"Ref": "ServiceImage"},
        "Essential": True,
        "Environment": _environment(kind, replicas),
        "PortMappings": [{"ContainerPort": kind.port, "Protocol": "tcp"}],
        "ReadonlyRootFilesystem": True,
        "MountPoints": [{"SourceVolume": "scratch", "ContainerPath": "/tmp"}],
        "HealthCheck": {
            "Command": ["CMD", ENTRYPOINT, "healthcheck"],
            "Interval": 30,
            "Timeout": 5,
            "Retries": 3,
            "StartPeriod": 60,
        },
        "StopTimeout": 30,  # a process finishes its batch within 10 s of SIGTERM
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": {"Ref": f"{kind.title}LogGroup"},
                "awslogs-region": {"Ref": "AWS::Region"},
                "awslogs-stream-prefix": kind.name,
            },
        },
    }
    if _secrets(kind):
        container["Secrets"] = _secrets(kind)
    return container


def _task_definition(kind: ProcessKind, replicas: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": {"Fn::Sub": f"${{TablePrefix}}{kind.name}"},
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": kind.cpu,
            "Memory": kind.memory,
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
            "ExecutionRoleArn": {"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]},
            "TaskRoleArn": {"Fn::GetAtt": [f"{kind.title}TaskRole", "Arn"]},
            "Volumes": [{"Name": "scratch"}],  # Fargate's ephemeral storage: the only writable path
            "ContainerDefinitions": [_container(kind, replicas)],
        },
    }


def _service(kind: ProcessKind) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "ServiceName": {"Fn::Sub": f"${{TablePrefix}}{kind.name}"},
        "Cluster": {"Ref": "EcsCluster"},
        "LaunchType": "FARGATE",
        "PlatformVersion": "LATEST",
        "TaskDefinition": {"Ref": f"{kind.title}TaskDefinition"},
        "DesiredCount": {"Ref": f"{kind.title}Count"},
        "DeploymentConfiguration": {
            "MinimumHealthyPercent": 100,
            "MaximumPercent": 200,
            "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        },
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {
                "AssignPublicIp": "DISABLED",
                "Subnets": {"Ref": "ServiceSubnets"},
                "SecurityGroups": {"Ref": "ServiceSecurityGroups"},
            }
        },
        "EnableECSManagedTags": True,
        "PropagateTags": "SERVICE",
        "Tags": [{"Key": "application", "Value": "orderline"}],
    }
    if kind.name == "api":
        target: dict[str, Any] = {"ContainerName": "api", "ContainerPort": API_PORT}
        target["TargetGroupArn"] = {"Ref": "ApiTargetGroupArn"}
        no_value = {"Ref": "AWS::NoValue"}
        properties["LoadBalancers"] = {"Fn::If": [HAS_TARGET_GROUP, [target], no_value]}
        properties["HealthCheckGracePeriodSeconds"] = {"Fn::If": [HAS_TARGET_GROUP, 60, no_value]}
    return {"Type": "AWS::ECS::Service", "Properties": properties}
