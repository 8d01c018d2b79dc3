"""BatchGetItem: ≤ 100 keys per call, UnprocessedKeys retried, leftovers left to PostgreSQL."""

from __future__ import annotations

from typing import Any

from orderline.adapters.dynamodb import read_side_calls


class ThrottlingClient:
    """Answers at most 40 keys per call and hands the rest back as UnprocessedKeys."""

    def __init__(self, give_up_after: int = 100) -> None:
        self.calls: list[int] = []
        self.give_up_after = give_up_after

    async def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        self.calls.append(len(keys))
        if len(self.calls) > self.give_up_after:
            return {"Responses": {table: []}, "UnprocessedKeys": RequestItems}
        done, rest = keys[:40], keys[40:]
        items = [{**key, "version": {"N": "1"}} for key in done]
        response: dict[str, Any] = {"Responses": {table: items}}
        if rest:
            response["UnprocessedKeys"] = {table: {"Keys": rest}}
        return response


async def batch_get(client: Any, ids: list[str]) -> dict[str, Any]:
    return (await read_side_calls.batch_get(client, "p-order-status", ids)).items


async def test_unprocessed_keys_are_retried_until_answered() -> None:
    client = ThrottlingClient()
    ids = [f"id-{n}" for n in range(150)]
    items = await batch_get(client, ids)
    assert sorted(items) == sorted(ids)
    assert client.calls == [100, 60, 20, 50, 10]  # ≤ 100 keys per call, leftovers retried


async def test_keys_still_unprocessed_after_the_retries_are_left_out() -> None:
    client = ThrottlingClient(give_up_after=1)
    items = await batch_get(client, [f"id-{n}" for n in range(50)])
    assert len(items) == 40  # the other 10 are left to PostgreSQL
    assert client.calls == [50] + [10] * 5  # one call, then five retries
