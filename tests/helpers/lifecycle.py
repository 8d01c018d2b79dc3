"""The order lifecycle of DESIGN §4, written out independently of the code under test."""

from __future__ import annotations

from orderline.domain.status import OrderStatus as S

ALLOWED = {
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.CANCELLED),
    (S.CONFIRMED, S.PROCESSING),
    (S.CONFIRMED, S.CANCELLED),
    (S.PROCESSING, S.SHIPPED),
    (S.PROCESSING, S.CANCELLED),
    (S.SHIPPED, S.DELIVERED),
}
