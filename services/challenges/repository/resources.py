"""MongoDB storage of the knowledge commons' resources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.challenges.domain.errors import DuplicateResource
from services.challenges.domain.resources import Resource, ResourceQuery
from services.challenges.repository.store import PUBLIC_PROJECTION, Store
from shared.contracts.events import Event
from shared.outbox import ensure_outbox_index, outbox_fields

RESOURCES = "resources"


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes resources are read by; the canonical URL is unique."""
    resources = database[RESOURCES]
    resources.create_index([("canonical_url", ASCENDING)], unique=True, name="canonical_url_unique")
    resources.create_index([("created_at", DESCENDING)])
    ensure_outbox_index(database, RESOURCES)


def _resource_document(resource: Resource) -> dict[str, Any]:
    document = asdict(resource)
    document["_id"] = document.pop("id")
    document["tags"] = list(resource.tags)
    document["cohorts"] = list(resource.cohorts)
    return document


def _resource(document: dict[str, Any]) -> Resource:
    return Resource(
        id=document["_id"],
        owner_id=document["owner_id"],
        url=document["url"],
        canonical_url=document["canonical_url"],
        title=document["title"],
        created_at=document["created_at"],
        summary=document.get("summary", ""),
        tags=tuple(document.get("tags", ())),
        cohorts=tuple(document.get("cohorts", ())),
        challenge_id=document.get("challenge_id"),
        endorsement_count=document.get("endorsement_count", 0),
        status=document.get("status", "active"),
    )


class ResourceRepository:
    """Shared resources; the canonical URL is unique."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def _resources(self) -> Collection[Any]:
        return self._store.collection(RESOURCES)

    def add(self, resource: Resource, events: Sequence[Event] = ()) -> None:
        """Insert a resource with its events; raise DuplicateResource naming the one that has its URL."""
        try:
            self._resources.insert_one({**_resource_document(resource), **outbox_fields(events, resource.created_at)})
        except DuplicateKeyError:
            existing = self._resources.find_one({"canonical_url": resource.canonical_url}, {"_id": 1})
            raise DuplicateResource(existing["_id"] if existing else "") from None

    def get(self, resource_id: str) -> Resource | None:
        """Return the resource or None."""
        document = self._resources.find_one({"_id": resource_id}, PUBLIC_PROJECTION)
        return _resource(document) if document else None

    def find_by_canonical_url(self, canonical_url: str) -> Resource | None:
        """Return the resource with this canonical URL, if any."""
        document = self._resources.find_one({"canonical_url": canonical_url}, PUBLIC_PROJECTION)
        return _resource(document) if document else None

    def search(self, query: ResourceQuery, *, limit: int, offset: int) -> tuple[list[Resource], int]:
        """Return a page of matching resources, newest first, and how many match in all."""
        filters: dict[str, Any] = {}
        if query.tag is not None:
            filters["tags"] = query.tag
        if query.owner_id is not None:
            filters["owner_id"] = query.owner_id
        if query.challenge_id is not None:
            filters["challenge_id"] = query.challenge_id
        total = self._resources.count_documents(filters)
        cursor = (
            self._resources.find(filters, PUBLIC_PROJECTION)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_resource(document) for document in cursor], total
