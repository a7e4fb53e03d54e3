"""Identifiers of stored objects: 24 hex digits (MongoDB object ids), made where the object is made."""

from __future__ import annotations

from bson import ObjectId


def new_id() -> str:
    """Return a new object id: 24 hex digits, roughly ordered by creation time."""
    return str(ObjectId())
