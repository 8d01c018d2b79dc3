"""Request and response bodies of the HTTP API, with their limits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from orderline.domain.access import Actor
from orderline.domain.order import MAX_ITEMS
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands

from .contract import (
    ID_PATTERN,
    NO_NUL_PATTERN,
    TEXT_PATTERN,
    DateTimeIn,
    MoneyIn,
    MoneyOut,
    NullableDateTimeIn,
    whole_number,
)
from .exact_json import free_form

MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 16  # DynamoDB holds 32 levels in all; the history item wraps it

ExternalId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
# Free text is taken as sent (never trimmed), without NUL and with a visible character.
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
City = Annotated[str, Field(min_length=1, max_length=100, pattern=TEXT_PATTERN)]
PostalCode = Annotated[str, Field(min_length=1, max_length=20, pattern=TEXT_PATTERN)]
Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Strict(BaseModel):
    """Unknown fields are an error: a client cannot set what the server owns. Values are taken
    in their documented JSON type only (no number for a string, no string for a number)."""

    model_config = ConfigDict(extra="forbid")


class ItemIn(Strict):
    itemId: ExternalId
    name: Text
    quantity: Annotated[int, Field(ge=1, le=1000, strict=True), BeforeValidator(whole_number)]
    unitPrice: MoneyIn

    def to_line(self) -> commands.ItemLine:
        return commands.ItemLine(self.itemId, self.name, self.quantity, self.unitPrice)


class AddressIn(Strict):
    street: Text
    city: City
    postalCode: PostalCode
    latitude: Coordinate = Field(ge=-90, le=90)
    longitude: Coordinate = Field(ge=-180, le=180)

    def to_address(self) -> commands.Address:
        return commands.Address(
            self.street, self.city, self.postalCode, self.latitude, self.longitude
        )


Items = Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class PlaceOrderIn(Strict):
    customerId: ExternalId
    restaurantId: ExternalId
    channelId: ExternalId = "default-channel"
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    items: Items
    deliveryAddress: AddressIn
    estimatedDeliveryTime: NullableDateTimeIn = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customerId": "123e4567-e89b-12d3-a456-426614174000",
                    "restaurantId": "550e8400-e29b-41d4-a716-446655440001",
                    "items": [
                        {
                            "itemId": "pizza-margherita",
                            "name": "Pizza Margherita",
                            "quantity": 1,
                            "unitPrice": "15.99",
                        }
                    ],
                    "deliveryAddress": {
                        "street": "123 Main St",
                        "city": "New York",
                        "postalCode": "10001",
                        "latitude": 40.7128,
                        "longitude": -74.006,
                    },
                }
            ]
        }
    )

    def to_command(
        self, actor: Actor, idempotency_key: str | None, request_hash: str
    ) -> commands.PlaceOrder:
        return commands.PlaceOrder(
            actor=actor,
            customer_id=self.customerId,
            restaurant_id=self.restaurantId,
            channel_id=self.channelId,
            currency=self.currency,
            items=[item.to_line() for item in self.items],
            address=self.deliveryAddress.to_address(),
            estimated_delivery_time=self.estimatedDeliveryTime,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )

    def fingerprint(self) -> str:
        """A canonical text of the request, hashed to recognise a retry."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class UpdateOrderIn(Strict):
    """Name at least one of items, deliveryAddress, estimatedDeliveryTime; none may be null."""

    items: Items | SkipJsonSchema[None] = None
    deliveryAddress: AddressIn | SkipJsonSchema[None] = None
    estimatedDeliveryTime: DateTimeIn = None
    reason: Annotated[str, Field(max_length=500, pattern=TEXT_PATTERN)] | SkipJsonSchema[None] = (
        Field(
            None,
            description="Why: required for a correction by orders:admin of items or address "
            "after the owner's window (items: PENDING; address: PENDING or CONFIRMED); the "
            "history records it.",
        )
    )

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["items"]},
                {"required": ["deliveryAddress"]},
                {"required": ["estimatedDeliveryTime"]},
            ],
            "examples": [{"estimatedDeliveryTime": "2026-01-15T14:30:00Z"}],
        }
    )

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateOrderIn:
        if not self.model_fields_set - {"reason"}:
            raise ValueError("name at least one of items, deliveryAddress, estimatedDeliveryTime")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ChangeStatusIn(Strict):
    """Who changed it is the token's subject; the old `userId` field is no longer accepted."""

    status: OrderStatus
    reason: Annotated[str, Field(max_length=500, pattern=NO_NUL_PATTERN)] | None = None
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Free-form JSON, at most {MAX_METADATA_BYTES} bytes serialised, nested at "
        f"most {MAX_METADATA_DEPTH} levels deep and without NUL characters (else 422).",
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "CONFIRMED", "reason": "kitchen accepted"}]}
    )

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Size and depth first, walked without recursion; then the exact serialised size."""
        limits = {"max_bytes": MAX_METADATA_BYTES, "max_depth": MAX_METADATA_DEPTH}
        checked: dict[str, Any] = free_form(value, **limits)
        if len(json.dumps(checked).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
        return checked


class ItemOut(BaseModel):
    itemId: str
    name: str
    quantity: int
    unitPrice: MoneyOut
    totalPrice: MoneyOut


class AddressOut(BaseModel):
    street: str
    city: str
    postalCode: str
    latitude: float
    longitude: float


class OrderOut(BaseModel):
    """An order as the API shows it. Money is a decimal string; timestamps are UTC ISO-8601."""

    id: str
    customerId: str
    restaurantId: str
    channelId: str
    status: OrderStatus
    statusId: int
    items: list[ItemOut]
    totalAmount: MoneyOut
    currency: str
    deliveryAddress: AddressOut
    estimatedDeliveryTime: datetime | None
    trackingCode: str | None
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None
    version: int


class OrderPageOut(BaseModel):
    items: list[OrderOut]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that answers these codes with a problem."""
    return {code: {"model": Problem, "content": {"application/problem+json": {}}} for code in codes}


class StatusOut(BaseModel):
    """An order's current status, as the read model holds it."""

    orderId: str
    customerId: str
    restaurantId: str
    channelId: str
    status: OrderStatus
    statusId: int
    totalAmount: MoneyOut
    currency: str
    estimatedDeliveryTime: datetime | None
    trackingCode: str | None
    createdAt: datetime
    updatedAt: datetime
    version: int


class BatchStatusOut(BaseModel):
    items: list[StatusOut] = Field(description="Found orders, in the order their ids were asked.")
    notFound: list[str] = Field(description="Ids with no live order (unknown or deleted).")
    sources: dict[str, int] = Field(
        description="How many of the orders in `items` each tier answered (ids in `notFound` "
        "count nowhere, so they all answer alike)."
    )


class HistoryEntryOut(BaseModel):
    version: int
    eventId: str
    eventType: str
    status: OrderStatus
    statusId: int
    previousStatus: OrderStatus | None
    previousStatusId: int | None
    userId: str | None
    reason: str | None
    metadata: dict[str, Any] | None
    changedFields: list[str] | None
    totalAmount: MoneyOut
    timestamp: datetime


class HistoryOut(BaseModel):
    orderId: str
    items: list[HistoryEntryOut] = Field(description="Newest first, one entry per event.")
    nextCursor: str | None


class StatusPageOut(BaseModel):
    items: list[StatusOut] = Field(description="Most recently changed first.")
    nextCursor: str | None


class CountOut(BaseModel):
    count: int
    totalValue: MoneyOut


class HourOut(BaseModel):
    hour: datetime
    statuses: dict[str, CountOut]


class StatusCountsOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    buckets: list[HourOut] = Field(description="Hours with at least one entry, oldest first.")
    totals: dict[str, CountOut] = Field(description="Entries into each status over the range.")
    current: dict[str, int] = Field(description="Orders in each status now.")
