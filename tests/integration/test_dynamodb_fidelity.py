"""Contract: the DynamoDB behaviours Orderline relies on, as AWS documents them, on both backends.

Where moto (5.2.5) or DynamoDB Local (1.25.1) deviates, a branch on `backend` asserts the deviation
as observed, so that it stays visible and fails loudly when it changes (DESIGN §9).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.tables import TABLES
from orderline.readmodel.item_writes import put_if_newer
from orderline.readmodel.tiers import FILL_CONDITION
from orderline.streams.counters import counter_update

Attr = dict[str, str]
MAX_ITEM_BYTES = 400 * 1024  # attribute names + values, UTF-8
BIG = 390_000  # one item's blob: 1 MB pages hold a few, 16 MB BatchGetItem responses about 43


def names(prefix: str) -> tuple[str, str, str, str]:
    """order-status, order-details, order-status-log and order-status-metrics."""
    status, details, log, metrics = (spec.table_name(prefix) for spec in TABLES)
    return status, details, log, metrics


def s(value: str) -> Attr:
    return {"S": value}


def n(value: object) -> Attr:
    return {"N": str(value)}


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["dynamodb_endpoint"])


async def refused(call: Any, **request: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        await call(**request)
    return dict(caught.value.response)


async def refusal(call: Any, **request: Any) -> tuple[str, str]:
    error = (await refused(call, **request))["Error"]
    return error["Code"], error["Message"]


def invalid(message: str) -> tuple[str, str]:
    return "ValidationException", message


def order_ids(items: list[dict[str, Attr]]) -> list[str]:
    return [raw["orderId"]["S"] for raw in items]


def add(prefix: str, pk: str, count: int, value: str = "0") -> dict[str, Any]:
    """The projector's own counter increment: UpdateItem ADD (totalValue only when non-zero)."""
    return counter_update(f"{prefix}order-status-metrics", pk, "T00", count, Decimal(value))


ABSENT = "attribute_not_exists(orderId)"


def transact_put_if_newer(table: str, item: dict[str, Any], version: int) -> dict[str, Any]:
    """A transaction's put applied only over an older version (the projector's condition)."""
    return {"Put": put_if_newer(table, to_item(item), version)}


def log_put(table: str, order: str, sk: str = "001", **extra: Attr) -> dict[str, Any]:
    item = {"orderId": s(order), "sk": s(sk), **extra}
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": ABSENT}}


async def test_cancelled_transaction_reasons(dynamodb: Any, tables: str) -> None:
    status, _, log, metrics = names(tables)
    await dynamodb.put_item(TableName=log, Item={"orderId": s("dup"), "sk": s("001")})
    await dynamodb.put_item(TableName=status, Item={"orderId": s("o1"), "version": n(5)})
    items = [
        log_put(log, "new"),
        log_put(log, "dup", note=s("changed")),  # a duplicate history entry
        add(tables, "counter", 1),
        transact_put_if_newer(status, {"orderId": "o1", "version": 3}, 3),  # stale
        transact_put_if_newer(status, {"orderId": "o2", "version": 1}, 1),
    ]
    response = await refused(dynamodb.transact_write_items, TransactItems=items)
    assert response["Error"]["Code"] == "TransactionCanceledException"
    codes = [reason["Code"] for reason in response["CancellationReasons"]]
    assert codes == ["None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed", "None"]
    for table, count in ((log, 1), (metrics, 0), (status, 1)):  # only what was there before
        assert (await dynamodb.scan(TableName=table, Select="COUNT"))["Count"] == count
    kept = await dynamodb.get_item(TableName=log, Key={"orderId": s("dup"), "sk": s("001")})
    assert "note" not in kept["Item"]
    kept = await dynamodb.get_item(TableName=status, Key={"orderId": s("o1")})
    assert kept["Item"]["version"] == n(5)


async def test_request_limits(dynamodb: Any, tables: str, backend: str) -> None:
    status, details, log, _ = names(tables)
    transact, batch_get = dynamodb.transact_write_items, dynamodb.batch_get_item
    twice = [add(tables, "c", 1), add(tables, "c", 2)]
    one_item_twice = invalid("Transaction request cannot include multiple operations on one item")
    assert await refusal(transact, TransactItems=twice) == one_item_twice
    puts = [log_put(log, "big", f"{i:03}") for i in range(101)]
    code, message = await refusal(transact, TransactItems=puts)
    # moto: "1 validation error detected at 'transactItems' failed to satisfy constraint: ..."
    assert code == "ValidationException" and "less than or equal to 100" in message
    assert (await dynamodb.scan(TableName=log, Select="COUNT"))["Count"] == 0
    await transact(TransactItems=puts[:100])
    assert (await dynamodb.scan(TableName=log, Select="COUNT"))["Count"] == 100
    if backend == "moto":  # moto accepts an empty transaction; AWS requires 1..100 items
        await transact(TransactItems=[])
    else:
        code, message = await refusal(transact, TransactItems=[])
        assert code == "ValidationException" and "greater than or equal to 1" in message
    response = await refused(transact, TransactItems=[log_put("no-such-table", "x")])
    assert response["Error"]["Code"] == "ResourceNotFoundException"  # an outage to the projector
    assert is_transient(ClientError(response, "TransactWriteItems"))
    keys = [{"orderId": s(f"k{i}")} for i in range(101)]
    dup = {log: {"Keys": [{"orderId": s("a"), "sk": s("1")}] * 2}}
    duplicates = invalid("Provided list of item keys contains duplicates")
    assert await refusal(batch_get, RequestItems=dup) == duplicates
    # DynamoDB Local: "Too many items requested for the BatchGetItem call" (AWS's words);
    # moto: "1 validation error detected: ... Member must have length less than or equal to 100"
    code, _ = await refusal(batch_get, RequestItems={status: {"Keys": keys}})
    assert code == "ValidationException"
    response = await batch_get(RequestItems={status: {"Keys": keys[:100]}})
    assert response["Responses"] == {status: []} and not response.get("UnprocessedKeys")
    too_big = invalid("Item size has exceeded the maximum allowed size")

    def item(key: str, size: int) -> dict[str, Attr]:
        return {"orderId": s(key), "blob": s("x" * (size - len("orderId") - len(key) - 4))}

    over = item("o", MAX_ITEM_BYTES + 1)
    assert await refusal(dynamodb.put_item, TableName=details, Item=over) == too_big
    at_limit = item("o", MAX_ITEM_BYTES)
    if backend == "moto":  # moto's limit is 405,000 bytes, not 400 KB: it refuses what AWS takes
        assert await refusal(dynamodb.put_item, TableName=details, Item=at_limit) == too_big
    else:
        await dynamodb.put_item(TableName=details, Item=at_limit)
    # In a transaction an oversized put refuses the whole request, for good (not a cancellation)
    writes = [log_put(log, "small"), log_put(log, "large", blob=s("x" * MAX_ITEM_BYTES))]
    response = await refused(dynamodb.transact_write_items, TransactItems=writes)
    assert (response["Error"]["Code"], response["Error"]["Message"]) == too_big
    assert not is_transient(ClientError(response, "TransactWriteItems"))
    small = {"orderId": s("small"), "sk": s("001")}
    assert "Item" not in await dynamodb.get_item(TableName=log, Key=small)


async def test_response_size_limits(dynamodb: Any, tables: str, backend: str) -> None:
    details = names(tables)[1]
    ids = [f"d{i:02}" for i in range(45)]  # 45 x 390 KB > 16 MB
    for order_id in ids:
        await dynamodb.put_item(TableName=details, Item={"orderId": s(order_id), "b": s("x" * BIG)})
    request: dict[str, Any] = {details: {"Keys": [{"orderId": s(i)} for i in ids]}}
    found, calls = list[str](), 0
    while request:  # the loop of views._batch_get and rebuild._batch_get
        response = await dynamodb.batch_get_item(RequestItems=request)
        found += order_ids(response["Responses"][details])
        request, calls = response.get("UnprocessedKeys") or {}, calls + 1
    assert calls > 1 and sorted(found) == ids  # 16 MB per response: 43 + 2 on both
    pages, counted = 0, 0
    start: dict[str, Any] | None = {}
    while start is not None:  # Select=COUNT still reads at most 1 MB per call: page it
        more = {"ExclusiveStartKey": start} if start else {}
        response = await dynamodb.scan(TableName=details, Select="COUNT", **more)
        counted, pages = counted + response["Count"], pages + 1
        start = response.get("LastEvaluatedKey")
    assert counted == len(ids) and pages > 1  # 3 items per page on Local, 2 on moto
    described = (await dynamodb.describe_table(TableName=details))["Table"]
    # AWS refreshes ItemCount about every six hours; both emulators keep it live. Nothing may rely
    # on it beyond display (`orderline tables describe`); count with a paged Scan Select=COUNT.
    assert backend not in ("moto", "dynamodb-local") or described["ItemCount"] == len(ids)


async def test_gsi_query_paging(dynamodb: Any, tables: str, backend: str) -> None:
    status = names(tables)[0]
    for i in range(10):
        item = {"orderId": s(f"g{i}"), "customerId": s("c1"), "status": s("AB"[i % 3 > 0])}
        await dynamodb.put_item(TableName=status, Item={**item, "updatedAt": s(f"T{i:02}")})
    base: dict[str, Any] = {
        "TableName": status,
        "IndexName": "CustomerStatusIndex",
        "KeyConditionExpression": "#party = :party",
        "ExpressionAttributeNames": {"#party": "customerId"},
        "ExpressionAttributeValues": {":party": s("c1")},
        "ScanIndexForward": False,
    }
    first = await dynamodb.query(**base, Limit=3)
    assert order_ids(first["Items"]) == ["g9", "g8", "g7"]
    last = {"orderId": s("g7"), "customerId": s("c1"), "updatedAt": s("T07")}
    assert first["LastEvaluatedKey"] == last
    filtered = {
        **base,
        "FilterExpression": "#status = :status",
        "ExpressionAttributeNames": {"#party": "customerId", "#status": "status"},
        "ExpressionAttributeValues": {":party": s("c1"), ":status": s("A")},
        "Limit": 4,  # evaluated items, before the filter
    }
    pages: list[list[str]] = []
    start: dict[str, Any] | None = {}
    while start is not None:
        page = await dynamodb.query(**filtered, **({"ExclusiveStartKey": start} if start else {}))
        assert page["ScannedCount"] <= 4 and page["Count"] == len(page["Items"])
        pages.append(order_ids(page["Items"]))
        start = page.get("LastEvaluatedKey")
    assert pages == [["g9", "g6"], ["g3"], ["g0"]]
    # views.by_party resumes from a key it builds from the last item it returned
    resume = {"orderId": s("g5"), "customerId": s("c1"), "updatedAt": s("T05")}
    after = await dynamodb.query(**base, Limit=2, ExclusiveStartKey=resume)
    assert order_ids(after["Items"]) == ["g4", "g3"]
    exact = await dynamodb.query(**base, Limit=10)
    if backend == "moto":  # moto omits LastEvaluatedKey when exactly Limit items remain
        assert len(exact["Items"]) == 10 and "LastEvaluatedKey" not in exact
    else:  # AWS returns it whenever Limit is reached; the next page is then empty
        assert exact["LastEvaluatedKey"]["orderId"] == s("g0")
    code, _ = await refusal(dynamodb.query, **{**base, "IndexName": "NoSuchIndex"})
    # AWS and DynamoDB Local: ValidationException "The table does not have the specified index";
    # moto: ResourceNotFoundException, which errors.is_transient takes for an outage.
    assert code == ("ResourceNotFoundException" if backend == "moto" else "ValidationException")


async def test_conditional_put_and_expressions(dynamodb: Any, tables: str, backend: str) -> None:
    status = names(tables)[0]

    async def fill(version: int, ttl: int, now: int) -> None:
        await dynamodb.put_item(
            TableName=status,
            Item={"orderId": s("f1"), "version": n(version), "ttl": n(ttl)},
            ConditionExpression=FILL_CONDITION,
            ExpressionAttributeNames={"#version": "version", "#ttl": "ttl"},
            ExpressionAttributeValues={":version": n(version), ":now": n(now)},
        )

    await fill(2, ttl=100, now=50)
    for version in (2, 1):  # same or older, not expired: refused
        code, _ = await refusal(fill, version=version, ttl=100, now=50)
        assert code == "ConditionalCheckFailedException"
    await fill(3, ttl=100, now=50)
    await fill(1, ttl=100, now=150)  # the stored item is past its ttl: an older one may replace it
    stored = await dynamodb.get_item(TableName=status, Key={"orderId": s("f1")})
    assert stored["Item"]["version"] == n(1)
    put = dynamodb.put_item
    plain = {"TableName": status, "Item": {"orderId": s("r")}}
    for word in ("ttl", "status"):  # reserved words need ExpressionAttributeNames
        values = {"ExpressionAttributeValues": {":v": n(1)}}
        code, message = await refusal(put, **plain, ConditionExpression=f"{word} < :v", **values)
        assert code == "ValidationException" and message.endswith(f"reserved keyword: {word}")
    bare = {**add(tables, "r", 1)["Update"], "UpdateExpression": "ADD count :count"}
    del bare["ExpressionAttributeNames"]
    assert "reserved keyword: count" in (await refusal(dynamodb.update_item, **bare))[1]
    unused = "Value provided in ExpressionAttributeValues"
    unused_value = {"ConditionExpression": ABSENT, "ExpressionAttributeValues": {":x": n(1)}}
    if backend == "moto":  # moto accepts unused ExpressionAttributeValues, AWS refuses them
        await put(**plain, **unused_value)
    else:
        code, message = await refusal(put, **plain, **unused_value)
        assert (code, message) == invalid(f"{unused} unused in expressions: keys: {{:x}}")


async def test_counters_numbers_ttl_and_keys(dynamodb: Any, tables: str, backend: str) -> None:
    status = names(tables)[0]

    async def increment(pk: str, count: int, value: str = "0") -> dict[str, Decimal]:
        update = {**add(tables, pk, count, value)["Update"], "ReturnValues": "ALL_NEW"}
        new = (await dynamodb.update_item(**update))["Attributes"]
        return {name: Decimal(new[name]["N"]) for name in ("count", "totalValue") if name in new}

    assert await increment("n", 1, "12.50") == {"count": 1, "totalValue": Decimal("12.5")}
    assert await increment("n", -3, "0.25") == {"count": -2, "totalValue": Decimal("12.75")}
    assert await increment("z", 0) == {"count": 0}  # a zero sum still creates the counter item
    await dynamodb.put_item(TableName=status, Item={"orderId": s("num"), "a": n("12.50")})
    stored = (await dynamodb.get_item(TableName=status, Key={"orderId": s("num")}))["Item"]
    # AWS stores numbers canonically ("12.5"); moto returns the text it was given
    assert stored["a"] == n("12.50" if backend == "moto" else "12.5")
    enabled = {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    described = await dynamodb.describe_time_to_live(TableName=status)
    assert described["TimeToLiveDescription"] == enabled
    enable, again = dynamodb.update_time_to_live, {"Enabled": True, "AttributeName": "ttl"}
    if backend == "moto":  # moto accepts enabling TTL twice; admin._enable_ttl checks first
        await enable(TableName=status, TimeToLiveSpecification=again)
    else:
        refused_again = await refusal(enable, TableName=status, TimeToLiveSpecification=again)
        assert refused_again == invalid("TimeToLive is already enabled")
    # Expired items stay readable until DynamoDB deletes them (lazily: within days on AWS), so
    # reads filter on `ttl` themselves (docs.is_live).
    expired = {"orderId": s("old"), "ttl": n(int(time.time()) - 3600)}
    await dynamodb.put_item(TableName=status, Item=expired)
    assert (await dynamodb.get_item(TableName=status, Key={"orderId": s("old")}))["Item"] == expired
    empty = {"orderId": s("e"), "customerId": s("")}  # an empty string as an index key
    code, _ = await refusal(dynamodb.put_item, TableName=status, Item=empty)
    assert code == "ValidationException"
    number_key = {"TableName": status, "Item": {"orderId": s("t"), "customerId": n(1)}}
    if backend == "moto":  # moto stores a number under an S-typed index key
        await dynamodb.put_item(**number_key)
    else:
        mismatch = "One or more parameter values were invalid: Type mismatch for Index Key"
        assert await refusal(dynamodb.put_item, **number_key) == invalid(mismatch)
