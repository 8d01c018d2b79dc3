"""Regions in the configuration, the per-region circuit, and the region-choosing client's rules
(fake region clients: which region a read and a write go to; the emulators are in
tests/e2e/test_regions.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import ValidationError

from orderline.adapters.dynamodb.circuit import Circuit, CircuitPolicy
from orderline.adapters.dynamodb.failover_writes import FailoverWrites, pinned_region
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.regions import RegionalClient, track_reads
from orderline.config import Settings
from orderline.regions import RegionMap


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_opens_on_failures_within_the_window_and_a_probe_closes_it() -> None:
    clock = Clock()
    circuit = Circuit(CircuitPolicy(threshold=3, window_seconds=10, open_seconds=2), clock)
    circuit.failed()
    clock.now = 11  # the first failure left the window
    circuit.failed()
    circuit.failed()
    assert circuit.state == "closed"
    circuit.failed()
    assert circuit.state == "open" and not circuit.allow()
    clock.now = 13
    assert circuit.state == "half-open"
    assert circuit.allow() and not circuit.allow()  # one probe at a time
    circuit.failed()
    assert circuit.state == "open"
    clock.now = 15
    assert circuit.allow()
    circuit.succeeded()
    assert circuit.state == "closed" and circuit.allow()


def test_a_forced_open_circuit_stays_open_until_given_back_then_is_probed() -> None:
    circuit = Circuit(CircuitPolicy(open_seconds=60), Clock())
    circuit.force_open()
    circuit.succeeded()
    assert circuit.state == "open" and not circuit.allow()
    circuit.force_open(False)
    assert circuit.state == "half-open" and circuit.allow()


def test_regions_parse_with_endpoints_in_order_of_preference() -> None:
    regions = Settings(
        dynamodb_endpoint="http://127.0.0.1:8000",
        aws_region="us-east-1",
        dynamodb_replica_regions="us-west-2, eu-west-1",
        dynamodb_region_endpoints="eu-west-1=http://127.0.0.1:8002,us-west-2=http://127.0.0.1:8001",
    ).regions()
    assert regions.names == ("us-east-1", "us-west-2", "eu-west-1")
    assert [region.endpoint for region in regions.all] == [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8002",
    ]
    aws = RegionMap.parse("us-east-1", None, "", "")
    assert aws.replicas == () and aws.home.endpoint is None
    assert RegionMap.parse("localhost", None, "", "").names == ("localhost",)  # one region


@pytest.mark.parametrize(
    ("replicas", "endpoints", "message"),
    [
        ("us-west-2,us-west-2", "", "each replica once"),
        ("us-east-1", "", "each replica once"),
        ("not a region", "", "is not a region name"),
        ("us-west-2", "", "has no endpoint"),
        ("us-west-2", "us-west-2:http://x", r"write REGION=http\(s\)://host:port"),
        ("us-west-2", "eu-west-1=http://127.0.0.1:1", "neither the home region nor a replica"),
        ("us-west-2", "us-east-1=http://127.0.0.1:9", "names the home region"),
    ],
)
def test_bad_regions_are_refused_naming_the_entry(
    replicas: str, endpoints: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(
            dynamodb_endpoint="http://127.0.0.1:8000",
            dynamodb_replica_regions=replicas,
            dynamodb_region_endpoints=endpoints,
        )


class FakeRegion:
    """A region's client: answers reads with its name, or fails them as told."""

    def __init__(self, name: str, fail: BaseException | None = None, delay: float = 0) -> None:
        self.name = name
        self.fail = fail
        self.delay = delay
        self.calls: list[str] = []

    async def get_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append("get_item")
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return {"Item": {"region": {"S": self.name}}}

    async def put_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append("put_item")
        return {}


def regional(*regions: FakeRegion, timeout: float = 1.0) -> RegionalClient:
    links = [(region.name, cast(DynamoDBClient, region)) for region in regions]
    return RegionalClient(links, CircuitPolicy(threshold=2, open_seconds=60), timeout)


DOWN = EndpointConnectionError(endpoint_url="http://home")


async def test_a_failed_home_read_is_answered_by_the_replica_and_recorded() -> None:
    home, replica = FakeRegion("home", DOWN), FakeRegion("replica")
    client = regional(home, replica)
    answered = track_reads()
    for _ in range(3):
        response = await client.get_item(TableName="t", Key={})
        assert response["Item"]["region"]["S"] == "replica"
    assert answered == ["replica"] * 3
    assert home.calls == ["get_item"] * 2  # the circuit opened after two failures
    assert client.states() == {"home": "open", "replica": "closed"}


async def test_a_slow_home_read_counts_as_a_failure_and_the_replica_answers() -> None:
    client = regional(FakeRegion("home", delay=5), FakeRegion("replica"), timeout=0.05)
    response = await client.get_item(TableName="t", Key={})
    assert response["Item"]["region"]["S"] == "replica"


async def test_a_request_error_is_not_an_outage_and_is_not_retried_elsewhere() -> None:
    invalid = ClientError({"Error": {"Code": "ValidationException"}}, "GetItem")
    home, replica = FakeRegion("home", invalid), FakeRegion("replica")
    with pytest.raises(ClientError):
        await regional(home, replica).get_item(TableName="t", Key={})
    assert replica.calls == []


async def test_writes_go_to_the_home_region_only_even_when_its_reads_fail_over() -> None:
    home, replica = FakeRegion("home", DOWN), FakeRegion("replica")
    client = regional(home, replica)
    for _ in range(2):
        await client.get_item(TableName="t", Key={})
    await client.put_item(TableName="t", Item={})
    assert "put_item" in home.calls and "put_item" not in replica.calls


async def test_every_region_down_fails_the_read_with_the_last_error() -> None:
    client = regional(FakeRegion("home", DOWN), FakeRegion("replica", DOWN))
    with pytest.raises(EndpointConnectionError):
        await client.get_item(TableName="t", Key={})


class FailingWrites(FakeRegion):
    async def put_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append("put_item")
        if self.fail is not None:
            raise self.fail
        return {}


async def test_failover_writes_open_the_circuit_then_go_to_the_replica_never_retried() -> None:
    home, replica = FailingWrites("home", DOWN), FailingWrites("replica")
    client = FailoverWrites(regional(home, replica))
    for _ in range(2):  # two failed writes (the threshold) answer errors, not the replica
        with pytest.raises(EndpointConnectionError):
            await client.put_item(TableName="t", Item={})
    assert replica.calls == [] and client.states()["home"] == "open"
    await client.put_item(TableName="t", Item={})
    assert replica.calls == ["put_item"] and home.calls == ["put_item"] * 2
    assert pinned_region() is None


async def test_one_pinned_operation_writes_in_one_region_even_if_the_circuit_opens() -> None:
    home, replica = FailingWrites("home"), FailingWrites("replica")
    client = FailoverWrites(regional(home, replica))
    with client.pinned() as region:
        assert region == "home" and pinned_region() == "home"
        client.home.circuit.force_open()
        with client.pinned() as inner:  # nested: the operation's region is kept
            assert inner == "home"
        await client.put_item(TableName="t", Item={})
    assert home.calls == ["put_item"] and replica.calls == []
    with client.pinned() as region:
        assert region == "replica"
