"""Orderline: orders in PostgreSQL, read models in DynamoDB, joined by a transactional outbox."""

__version__ = "0.1.0"
