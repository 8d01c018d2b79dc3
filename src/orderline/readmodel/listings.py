"""Listings: one customer's or restaurant's orders, most recently changed first (GSI queries).

They exist only in DynamoDB: an outage raises ReadModelUnavailable. A status filter applies
after DynamoDB's `Limit`, so the listing keeps querying (at most 10 pages) until a page is full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain.order import Document

from . import documents as docs
from .tiers import ReadModelUnavailable, Tiers

Party = Literal["customer", "restaurant"]
PARTY_INDEXES: dict[Party, tuple[str, str]] = {
    "customer": ("CustomerStatusIndex", "customerId"),
    "restaurant": ("RestaurantStatusIndex", "restaurantId"),
}
MAX_QUERY_PAGES = 10


@dataclass(frozen=True)
class ListingPage:
    items: list[Document]
    next_key: dict[str, str] | None


class Listings:
    def __init__(self, tiers: Tiers) -> None:
        self._tiers = tiers

    async def by_party(
        self,
        party: Party,
        party_id: str,
        *,
        limit: int,
        status: str | None = None,
        after: dict[str, str] | None = None,
    ) -> ListingPage:
        client = self._tiers.read_model()
        key_name = PARTY_INDEXES[party][1]
        collected: list[Document] = []
        start = after
        now = self._tiers.clock()
        try:
            for _ in range(MAX_QUERY_PAGES):
                wanted = limit + 1 - len(collected)
                query = self._query(party, party_id, status, start, wanted)
                items, last = await read_side_calls.query_page(client, query)
                collected += [item for item in items if docs.is_live(item, now)]
                start = {name: value["S"] for name, value in last.items()} if last else None
                if start is None or len(collected) > limit:
                    break
        except Exception as exc:
            if is_transient(exc):
                raise ReadModelUnavailable(str(exc)) from exc
            raise
        page = collected[:limit]
        if len(collected) > limit:
            last_item = page[-1]
            start = {name: last_item[name] for name in ("orderId", key_name, "updatedAt")}
        return ListingPage([docs.status_from_item(item) for item in page], start)

    def _query(
        self,
        party: Party,
        party_id: str,
        status: str | None,
        start: dict[str, str] | None,
        wanted: int,
    ) -> dict[str, Any]:
        index, key_name = PARTY_INDEXES[party]
        query: dict[str, Any] = {
            "TableName": self._tiers.status_table,
            "IndexName": index,
            "KeyConditionExpression": "#party = :party",
            "ExpressionAttributeNames": {"#party": key_name},
            "ExpressionAttributeValues": {":party": {"S": party_id}},
            "ScanIndexForward": False,
            "Limit": wanted,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"]["#status"] = "status"
            query["ExpressionAttributeValues"][":status"] = {"S": status}
            query["Limit"] = max(wanted, 50)  # the filter applies after the limit
        if start is not None:
            query["ExclusiveStartKey"] = {name: {"S": value} for name, value in start.items()}
        return query
