"""Errors any adapter may raise, whatever it talks to."""

from __future__ import annotations


class StartupError(Exception):
    """A dependency failed at start-up; the message says what and which setting to change."""
