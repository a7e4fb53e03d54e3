"""MongoDB storage of proposed revisions of resources (knowledge updates), one document each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.challenges.domain.revisions import FieldChange, Revision, RevisionStatus
from services.challenges.repository.resources import decision_document, decision_from
from shared.contracts.events import Event
from shared.store import PUBLIC_PROJECTION, Repository, find_page

REVISIONS = "revisions"
_NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes revisions are read by: a resource's history, all of it or by status."""
    revisions = database[REVISIONS]
    revisions.create_index([("resource_id", ASCENDING), ("created_at", DESCENDING)])
    revisions.create_index([("resource_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)])
    revisions.create_index([("resource_id", ASCENDING), ("proposer_id", ASCENDING), ("status", ASCENDING)])


def _document(revision: Revision) -> dict[str, Any]:
    return {
        "_id": revision.id,
        "resource_id": revision.resource_id,
        "proposer_id": revision.proposer_id,
        "proposer_cohorts": list(revision.proposer_cohorts),
        "status": revision.status.value,
        "base_version": revision.base_version,
        "changes": {name: {"old": change.old, "new": change.new} for name, change in revision.changes.items()},
        "note": revision.note,
        "sources": list(revision.sources),
        "flagged_outdated": revision.flagged_outdated,
        "created_at": revision.created_at,
        "decided_at": revision.decided_at,
        "decision": decision_document(revision.decision) if revision.decision else None,
        "version": revision.version,
        "resolved_flag_ids": list(revision.resolved_flag_ids),
    }


def _revision(document: dict[str, Any]) -> Revision:
    decision = document.get("decision")
    return Revision(
        id=document["_id"],
        resource_id=document["resource_id"],
        proposer_id=document["proposer_id"],
        proposer_cohorts=tuple(document.get("proposer_cohorts", ())),
        status=RevisionStatus(document["status"]),
        base_version=document["base_version"],
        changes={name: FieldChange(**change) for name, change in document["changes"].items()},
        note=document["note"],
        sources=tuple(document.get("sources", ())),
        flagged_outdated=document.get("flagged_outdated", False),
        created_at=document["created_at"],
        decided_at=document.get("decided_at"),
        decision=decision_from(decision) if decision else None,
        version=document.get("version"),
        resolved_flag_ids=tuple(document.get("resolved_flag_ids", ())),
    )


class RevisionRepository(Repository):
    """Proposed revisions of resources; a revision is marked decided once, as its resource recorded it."""

    collection_name = REVISIONS

    def add(self, revision: Revision, events: Sequence[Event] = ()) -> None:
        """Insert a proposed revision together with the events announcing it."""
        self._insert(_document(revision), events)

    def pending_of(self, resource_id: str, proposer_id: str) -> Revision | None:
        """Return this person's pending revision of the resource, if any."""
        document = self.documents.find_one(
            {"resource_id": resource_id, "proposer_id": proposer_id, "status": RevisionStatus.PENDING.value},
            PUBLIC_PROJECTION,
        )
        return _revision(document) if document else None

    def get(self, revision_id: str) -> Revision | None:
        """Return the revision or None."""
        document = self.documents.find_one({"_id": revision_id}, PUBLIC_PROJECTION)
        return _revision(document) if document else None

    def of_resource(
        self, resource_id: str, *, status: RevisionStatus | None, limit: int, offset: int
    ) -> tuple[list[Revision], int]:
        """Return a page of a resource's revisions, newest first, and how many match in all."""
        filters: dict[str, Any] = {"resource_id": resource_id}
        if status is not None:
            filters["status"] = status.value
        documents, total = find_page(
            self.documents, filters, projection=PUBLIC_PROJECTION, sort=_NEWEST_FIRST, limit=limit, offset=offset
        )
        return [_revision(document) for document in documents], total

    def mark_decided(self, decided: Revision) -> bool:
        """Mark a pending revision as its resource's record decided it; return whether it was pending."""
        update = {
            "$set": {
                "status": decided.status.value,
                "decided_at": decided.decided_at,
                "decision": decision_document(decided.decision) if decided.decision else None,
                "version": decided.version,
                "resolved_flag_ids": list(decided.resolved_flag_ids),
            }
        }
        return self._update({"_id": decided.id, "status": RevisionStatus.PENDING.value}, update)
