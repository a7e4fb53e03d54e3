"""MongoDB storage of challenges and resources; the only module of this service that talks to MongoDB."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.challenges.domain import (
    Challenge,
    ChallengeKind,
    ChallengeQuery,
    ChallengeStatus,
    Criterion,
    DuplicateResource,
    Resource,
    ResourceQuery,
    ReviewSettings,
)
from shared.contracts.events import Event
from shared.outbox import ensure_outbox_index, outbox_fields, outbox_update

CHALLENGES = "challenges"
RESOURCES = "resources"
OUTBOX_COLLECTIONS = (CHALLENGES, RESOURCES)


def new_id() -> str:
    """Return a new object id: 24 hex digits, roughly ordered by creation time."""
    return str(ObjectId())


class _Store:
    """Lazily creates this service's indexes once per process, before the first use of a collection."""

    def __init__(self, database: Callable[[], Database[Any]]) -> None:
        self._database = database
        self._ready = False
        self._lock = threading.Lock()

    def collection(self, name: str) -> Collection[Any]:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._create_indexes(self._database())
                    self._ready = True
        return self._database()[name]

    @staticmethod
    def _create_indexes(database: Database[Any]) -> None:
        database[CHALLENGES].create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        database[CHALLENGES].create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)])
        database[RESOURCES].create_index([("canonical_url", ASCENDING)], unique=True, name="canonical_url_unique")
        database[RESOURCES].create_index([("created_at", DESCENDING)])
        for name in OUTBOX_COLLECTIONS:
            ensure_outbox_index(database, name)


def _challenge_document(challenge: Challenge) -> dict[str, Any]:
    document = asdict(challenge)
    document["_id"] = document.pop("id")
    document["kind"] = challenge.kind.value
    document["status"] = challenge.status.value
    document["tags"] = list(challenge.tags)
    document["cohorts"] = list(challenge.cohorts)
    document["rubric"] = [asdict(criterion) for criterion in challenge.rubric]
    return document


def _challenge(document: dict[str, Any]) -> Challenge:
    return Challenge(
        id=document["_id"],
        owner_id=document["owner_id"],
        title=document["title"],
        description=document["description"],
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        kind=ChallengeKind(document["kind"]),
        tags=tuple(document.get("tags", ())),
        cohorts=tuple(document.get("cohorts", ())),
        points=document["points"],
        rubric=tuple(Criterion(**criterion) for criterion in document.get("rubric", ())),
        starts_at=document.get("starts_at"),
        ends_at=document.get("ends_at"),
        review=ReviewSettings(**document.get("review", {})),
        status=ChallengeStatus(document["status"]),
        published_at=document.get("published_at"),
    )


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


_PUBLIC_PROJECTION = {"_outbox": 0, "_outbox_since": 0}


class ChallengeRepository:
    """Challenges, stored one document each."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    @property
    def _challenges(self) -> Collection[Any]:
        return self._store.collection(CHALLENGES)

    def add(self, challenge: Challenge, events: Sequence[Event] = ()) -> None:
        """Insert a new challenge together with the events announcing it."""
        self._challenges.insert_one({**_challenge_document(challenge), **outbox_fields(events, challenge.created_at)})

    def get(self, challenge_id: str) -> Challenge | None:
        """Return the challenge or None."""
        document = self._challenges.find_one({"_id": challenge_id}, _PUBLIC_PROJECTION)
        return _challenge(document) if document else None

    def replace_status(
        self, challenge: Challenge, expected: ChallengeStatus, events: Sequence[Event], now: datetime
    ) -> bool:
        """Save a status change only if nobody changed the status meanwhile; return whether it was saved."""
        update: dict[str, Any] = {
            "$set": {
                "status": challenge.status.value,
                "updated_at": challenge.updated_at,
                "published_at": challenge.published_at,
            }
        }
        for operator, values in outbox_update(events, now).items():
            update.setdefault(operator, {}).update(values)
        result = self._challenges.update_one({"_id": challenge.id, "status": expected.value}, update)
        return result.modified_count == 1

    def search(self, query: ChallengeQuery, *, limit: int, offset: int) -> tuple[list[Challenge], int]:
        """Return a page of matching challenges, newest first, and how many match in all."""
        filters: dict[str, Any] = {}
        if query.statuses is not None:
            filters["status"] = {"$in": [status.value for status in query.statuses]}
        if query.tag is not None:
            filters["tags"] = query.tag
        if query.owner_id is not None:
            filters["owner_id"] = query.owner_id
        if query.open_to_cohorts is not None:
            filters["$or"] = [{"cohorts": {"$size": 0}}, {"cohorts": {"$in": list(query.open_to_cohorts)}}]
        total = self._challenges.count_documents(filters)
        cursor = (
            self._challenges.find(filters, _PUBLIC_PROJECTION)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_challenge(document) for document in cursor], total


class ResourceRepository:
    """Shared resources; the canonical URL is unique."""

    def __init__(self, store: _Store) -> None:
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
        document = self._resources.find_one({"_id": resource_id}, _PUBLIC_PROJECTION)
        return _resource(document) if document else None

    def find_by_canonical_url(self, canonical_url: str) -> Resource | None:
        """Return the resource with this canonical URL, if any."""
        document = self._resources.find_one({"canonical_url": canonical_url}, _PUBLIC_PROJECTION)
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
            self._resources.find(filters, _PUBLIC_PROJECTION)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_resource(document) for document in cursor], total


class Repositories:
    """Every repository of the service over one lazily-indexed database."""

    def __init__(self, database: Callable[[], Database[Any]]) -> None:
        store = _Store(database)
        self.challenges = ChallengeRepository(store)
        self.resources = ResourceRepository(store)
