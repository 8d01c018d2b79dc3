"""Principals for tests that run commands directly (the API takes them from tokens)."""

from __future__ import annotations

from orderline.domain.access import Actor, Role, Scope


def admin(subject: str = "staff") -> Actor:
    """A member of staff with `orders:admin`: may do anything to any order."""
    return Actor(subject, Role.STAFF, scopes=frozenset({Scope.ORDERS_ADMIN, Scope.ANALYTICS_READ}))


def customer(subject: str) -> Actor:
    return Actor(subject, Role.CUSTOMER)


def restaurant(restaurant_id: str, subject: str = "kitchen") -> Actor:
    return Actor(subject, Role.RESTAURANT, restaurant_id=restaurant_id)
