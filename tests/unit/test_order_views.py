"""The read path with DynamoDB switched off (or away): PostgreSQL answers every read it can,
here through the fakes of its ports (`FakeOrderQueries`, `FakeEventLog`) on a FakeUnitOfWork
that the command handlers write to."""

from __future__ import annotations

from uuid import uuid4

import pytest

from orderline.domain.access import Ownership
from orderline.domain.status import OrderStatus as S
from orderline.readmodel.cache import ReadCache
from orderline.readmodel.views import OrderViews, ReadModelUnavailable

from ..helpers.factories import TickingClock
from ..helpers.fakes import FakeEventLog, FakeOrderQueries, FakeUnitOfWork
from ..helpers.orders import delete_in, move_in, place_in


def views_on(uow: FakeUnitOfWork, *, cache: bool = False) -> OrderViews:
    """The read side without a DynamoDB client, on what `uow` committed."""
    return OrderViews(
        orders=FakeOrderQueries(uow),
        client=None,
        prefix="unit-",
        cache=ReadCache(1000, 60, 5) if cache else ReadCache(0, 0, 0),
        events=FakeEventLog(uow),
    )


async def test_single_reads_are_answered_by_postgresql_as_the_caller_may_see_them() -> None:
    uow = FakeUnitOfWork()
    order_id = await place_in(uow, customer_id="c1")
    gone = await place_in(uow)
    await delete_in(uow, gone)
    views = views_on(uow)

    status = await views.status(order_id)
    assert status.source == "postgres" and status.document is not None
    assert status.document["orderId"] == str(order_id) and status.document["status"] == "PENDING"
    details = await views.details(order_id)
    assert details.source == "postgres" and details.document is not None
    assert details.document["id"] == str(order_id) and details.document["items"]
    assert (await views.status(uuid4())).document is None
    assert (await views.status(gone)).document is None
    stranger = Ownership(customer_id="someone-else")
    assert (await views.read("status", order_id, None, stranger)).document is None
    assert (await views.read("status", order_id, None, Ownership(customer_id="c1"))).document


async def test_the_cache_answers_the_next_read_and_is_warmed_from_recent_orders() -> None:
    uow = FakeUnitOfWork()
    ids = [await place_in(uow) for _ in range(3)]
    views = views_on(uow, cache=True)
    first, again = await views.status(ids[0]), await views.status(ids[0])
    assert (first.source, again.source) == ("postgres", "cache")
    assert again.document == first.document

    warmed = views_on(uow, cache=True)
    assert await warmed.warm(10) == 3
    assert [(await warmed.status(order_id)).source for order_id in ids] == ["cache"] * 3


async def test_batch_status_asks_each_id_once_and_hides_what_the_caller_does_not_own() -> None:
    uow = FakeUnitOfWork()
    mine = [await place_in(uow, customer_id="c1") for _ in range(2)]
    theirs = await place_in(uow, customer_id="c2")
    gone = await place_in(uow, customer_id="c1")
    await delete_in(uow, gone)
    unknown = uuid4()
    views = views_on(uow, cache=True)
    asked = [mine[0], theirs, unknown, mine[0], gone, mine[1]]

    batch = await views.statuses(asked, Ownership(customer_id="c1"))
    assert [item["orderId"] for item in batch.items] == [str(mine[0]), str(mine[1])]
    assert batch.not_found == [str(theirs), str(unknown), str(gone)]
    assert batch.source == "postgres"
    assert batch.sources == {"cache": 0, "dynamodb": 0, "postgres": 2}  # not the hidden ones
    cached = await views.statuses(asked, Ownership(customer_id="c1"))
    assert cached.source == "cache" and cached.items == batch.items
    assert cached.not_found == batch.not_found


async def test_history_without_the_read_model_comes_from_the_event_log() -> None:
    uow, clock = FakeUnitOfWork(), TickingClock()
    order_id = await place_in(uow, clock, customer_id="c1")
    await move_in(uow, order_id, S.CONFIRMED, clock)
    await move_in(uow, order_id, S.PROCESSING, clock)
    await place_in(uow, clock)  # another order's events stay out of this history
    views = views_on(uow)

    first = await views.history(order_id, limit=2)
    assert first is not None and first.source == "postgres"
    assert [entry["version"] for entry in first.entries] == [3, 2] and first.next_before == 2
    assert [entry["status"] for entry in first.entries] == ["PROCESSING", "CONFIRMED"]
    rest = await views.history(order_id, limit=2, before=first.next_before)
    assert rest is not None and [entry["version"] for entry in rest.entries] == [1]
    assert rest.next_before is None
    assert await views.history(uuid4(), limit=2) is None
    assert await views.history_of(order_id, limit=10, ownership=Ownership("c2")) is None
    own = await views.history_of(order_id, limit=10, ownership=Ownership("c1"))
    assert own is not None and len(own.entries) == 3


async def test_listings_exist_only_in_the_read_model() -> None:
    views = views_on(FakeUnitOfWork())
    with pytest.raises(ReadModelUnavailable):
        await views.by_party("customer", "c1", limit=10)
