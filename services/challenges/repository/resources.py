"""MongoDB storage of the knowledge commons' resources, with their endorsements and flags inside."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.challenges.domain.errors import DuplicateResource
from services.challenges.domain.resources import (
    DecidedBy,
    Decision,
    Flag,
    FlagReason,
    Resource,
    ResourceQuery,
    ResourceSort,
    RevisionDecision,
)
from shared.contracts.events import Event
from shared.store import PUBLIC_PROJECTION, Repository, find_page, is_duplicate_key

RESOURCES = "resources"
# Reads never return who endorsed (it grows with every endorsement and only the write filter needs it).
_READ_PROJECTION = {**PUBLIC_PROJECTION, "endorsers": 0}
_SORTS: dict[ResourceSort, list[tuple[str, int]]] = {
    ResourceSort.NEWEST: [("created_at", DESCENDING), ("_id", DESCENDING)],
    ResourceSort.FRESHNESS: [("last_verified_at", DESCENDING), ("_id", DESCENDING)],
    ResourceSort.STALENESS: [("review_by", ASCENDING), ("_id", ASCENDING)],
    ResourceSort.ENDORSEMENTS: [("endorsement_count", DESCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
}


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes resources are read by; the canonical URL is unique."""
    resources = database[RESOURCES]
    resources.create_index([("canonical_url", ASCENDING)], unique=True, name="canonical_url_unique")
    resources.create_index([("created_at", DESCENDING)])
    resources.create_index([("tags", ASCENDING), ("created_at", DESCENDING)])
    resources.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)])
    resources.create_index([("review_by", ASCENDING)])
    resources.create_index([("last_verified_at", DESCENDING)])
    resources.create_index([("endorsement_count", DESCENDING), ("created_at", DESCENDING)])
    resources.create_index([("open_flag_reasons", ASCENDING)])


def decision_document(decision: Decision) -> dict[str, Any]:
    """Return how a decision is stored (revisions store theirs the same way)."""
    return {
        "decided_by": decision.decided_by.value if decision.decided_by else None,
        "decider_id": decision.decider_id,
        "verifier_ids": list(decision.verifier_ids),
        "reason": decision.reason,
    }


def decision_from(document: dict[str, Any]) -> Decision:
    """Return a decision stored by `decision_document`."""
    decided_by = document.get("decided_by")
    return Decision(
        decided_by=DecidedBy(decided_by) if decided_by else None,
        decider_id=document.get("decider_id"),
        verifier_ids=tuple(document.get("verifier_ids", ())),
        reason=document.get("reason"),
    )


def _flag_document(flag: Flag) -> dict[str, Any]:
    return {
        "id": flag.id,
        "reason": flag.reason.value,
        "note": flag.note,
        "user_id": flag.user_id,
        "created_at": flag.created_at,
        "resolved_at": flag.resolved_at,
        "resolved_by_revision": flag.resolved_by_revision,
    }


def _flag(document: dict[str, Any]) -> Flag:
    return Flag(
        id=document["id"],
        reason=FlagReason(document["reason"]),
        note=document["note"],
        user_id=document["user_id"],
        created_at=document["created_at"],
        resolved_at=document.get("resolved_at"),
        resolved_by_revision=document.get("resolved_by_revision"),
    )


def _flag_summary(resource: Resource) -> dict[str, Any]:
    """Return the fields derived from the flags, which queries and conditional writes match on.

    The only place they are computed: every write that changes flags stores them from the domain object.
    """
    return {
        "flag_count": len(resource.flags),
        "open_flag_count": len(resource.open_flags),
        "open_flag_reasons": [reason.value for reason in resource.open_flag_reasons],
    }


def _decision_record(record: RevisionDecision) -> dict[str, Any]:
    return {
        "accepted": record.accepted,
        "decided_at": record.decided_at,
        "decision": decision_document(record.decision),
        "version": record.version,
        "resolved_flag_ids": list(record.resolved_flag_ids),
    }


def _decisions(stored: dict[str, Any]) -> tuple[RevisionDecision, ...]:
    records = [
        RevisionDecision(
            revision_id=revision_id,
            accepted=record["accepted"],
            decided_at=record["decided_at"],
            decision=decision_from(record["decision"]),
            version=record.get("version"),
            resolved_flag_ids=tuple(record.get("resolved_flag_ids", ())),
        )
        for revision_id, record in stored.items()
    ]
    return tuple(sorted(records, key=lambda record: (record.decided_at, record.revision_id)))


def _document(resource: Resource) -> dict[str, Any]:
    return {
        "_id": resource.id,
        "owner_id": resource.owner_id,
        "url": resource.url,
        "canonical_url": resource.canonical_url,
        "title": resource.title,
        "summary": resource.summary,
        "tags": list(resource.tags),
        "cohorts": list(resource.cohorts),
        "challenge_id": resource.challenge_id,
        "endorsement_count": resource.endorsement_count,
        "endorsers": [],
        "status": resource.status,
        "version": resource.version,
        "created_at": resource.created_at,
        "updated_at": resource.updated_at,
        "last_verified_at": resource.last_verified_at,
        "review_by": resource.review_by,
        "review_interval_days": resource.review_interval_days,
        "flags": [_flag_document(flag) for flag in resource.flags],
        **_flag_summary(resource),
        # The one record of each decision on a revision of this resource, by revision id.
        "decisions": {record.revision_id: _decision_record(record) for record in resource.decisions},
    }


def _resource(document: dict[str, Any]) -> Resource:
    return Resource(
        id=document["_id"],
        owner_id=document["owner_id"],
        url=document["url"],
        canonical_url=document["canonical_url"],
        title=document["title"],
        created_at=document["created_at"],
        last_verified_at=document["last_verified_at"],
        review_by=document["review_by"],
        summary=document.get("summary", ""),
        tags=tuple(document.get("tags", ())),
        cohorts=tuple(document.get("cohorts", ())),
        challenge_id=document.get("challenge_id"),
        endorsement_count=document.get("endorsement_count", 0),
        status=document.get("status", "active"),
        version=document.get("version", 1),
        updated_at=document.get("updated_at"),
        review_interval_days=document.get("review_interval_days"),
        flags=tuple(_flag(flag) for flag in document.get("flags", ())),
        decisions=_decisions(document.get("decisions") or {}),
    )


def _filters(query: ResourceQuery) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    if query.tag is not None:
        clauses.append({"tags": query.tag})
    if query.owner_id is not None:
        clauses.append({"owner_id": query.owner_id})
    if query.challenge_id is not None:
        clauses.append({"challenge_id": query.challenge_id})
    if query.text:
        # Escaped: the text is matched literally, never as a pattern a caller could make expensive.
        pattern = {"$regex": re.escape(query.text), "$options": "i"}
        clauses.append({"$or": [{"title": pattern}, {"summary": pattern}]})
    if query.stale is True:
        clauses.append({"review_by": {"$lte": query.now}})
    elif query.stale is False:
        clauses.append({"review_by": {"$gt": query.now}})
    if query.flagged is True:
        clauses.append({"open_flag_count": {"$gt": 0}})
    elif query.flagged is False:
        clauses.append({"open_flag_count": 0})
    if query.flag is not None:
        clauses.append({"open_flag_reasons": query.flag.value})
    return {"$and": clauses} if clauses else {}


class ResourceRepository(Repository):
    """Shared resources; the canonical URL is unique; endorsements and flags live in the resource's document."""

    collection_name = RESOURCES

    def _existing_id(self, canonical_url: str) -> str:
        existing = self.documents.find_one({"canonical_url": canonical_url}, {"_id": 1})
        return existing["_id"] if existing else ""

    def add(self, resource: Resource, events: Sequence[Event] = ()) -> None:
        """Insert a resource with its events; raise DuplicateResource naming the one that has its URL."""
        try:
            self._insert(_document(resource), events)
        except DuplicateKeyError:
            raise DuplicateResource(self._existing_id(resource.canonical_url)) from None

    def get(self, resource_id: str) -> Resource | None:
        """Return the resource or None."""
        document = self.documents.find_one({"_id": resource_id}, _READ_PROJECTION)
        return _resource(document) if document else None

    def find_by_canonical_url(self, canonical_url: str) -> Resource | None:
        """Return the resource with this canonical URL, if any."""
        document = self.documents.find_one({"canonical_url": canonical_url}, _READ_PROJECTION)
        return _resource(document) if document else None

    def has_endorsed(self, resource_id: str, user_id: str) -> bool:
        """Return whether this person endorsed the resource."""
        return self.documents.count_documents({"_id": resource_id, "endorsers": user_id}, limit=1) == 1

    def endorse(self, resource_id: str, user_id: str, events: Sequence[Event]) -> int | None:
        """Add one endorsement by someone other than the owner who has not endorsed yet; return the new count.

        One conditional write that also stores the event; None when it did not match (the owner, a repeat,
        or no such resource). The count is read after the write, so it may include endorsements made
        meanwhile (FerretDB's findAndModify takes no projection, and the whole document is large).
        """
        added = self._update(
            {"_id": resource_id, "owner_id": {"$ne": user_id}, "endorsers": {"$ne": user_id}},
            {"$push": {"endorsers": user_id}, "$inc": {"endorsement_count": 1}},
            events,
        )
        if not added:
            return None
        document = self.documents.find_one({"_id": resource_id}, {"endorsement_count": 1})
        return int(document["endorsement_count"]) if document else None

    def add_flag(self, before: Resource, after: Resource, flag: Flag, events: Sequence[Event]) -> bool:
        """Store `after`, `before` with `flag` added, if no flag was added since `before` was read."""
        return self._update(
            {"_id": before.id, "flag_count": len(before.flags)},
            {"$push": {"flags": _flag_document(flag)}, "$set": _flag_summary(after)},
            events,
        )

    def record_decision(self, before: Resource, after: Resource, events: Sequence[Event]) -> bool:
        """Store `after`, `before` with one more decision recorded, unless that revision was decided already.

        One document write with its event. An acceptance also writes the new content, version, freshness
        and resolved flags, and needs the version and the flags unchanged since `before` was read (flags
        are rewritten whole, so a flag added meanwhile must not be lost). Raise DuplicateResource when a
        new URL's canonical form belongs to another resource.
        """
        record = after.decisions[-1]
        filters: dict[str, Any] = {"_id": before.id, f"decisions.{record.revision_id}": {"$exists": False}}
        fields: dict[str, Any] = {f"decisions.{record.revision_id}": _decision_record(record)}
        if record.accepted:
            filters.update({"version": before.version, "flag_count": len(before.flags)})
            fields.update(
                {
                    "title": after.title,
                    "summary": after.summary,
                    "url": after.url,
                    "canonical_url": after.canonical_url,
                    "version": after.version,
                    "updated_at": after.updated_at,
                    "last_verified_at": after.last_verified_at,
                    "review_by": after.review_by,
                    "flags": [_flag_document(flag) for flag in after.flags],
                    **_flag_summary(after),
                }
            )
        try:
            return self._update(filters, {"$set": fields}, events)
        except (DuplicateKeyError, OperationFailure) as error:
            if not is_duplicate_key(error):
                raise
            raise DuplicateResource(self._existing_id(after.canonical_url)) from None

    def search(self, query: ResourceQuery, *, limit: int, offset: int) -> tuple[list[Resource], int]:
        """Return a page of matching resources in the query's order, and how many match in all."""
        filters = _filters(query)
        documents, total = find_page(
            self.documents, filters, projection=_READ_PROJECTION, sort=_SORTS[query.sort], limit=limit, offset=offset
        )
        return [_resource(document) for document in documents], total
