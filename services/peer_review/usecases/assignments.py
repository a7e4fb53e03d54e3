"""Use cases of assignment: give-to-get on arrival, allocation at the close, the pull queue, declining and
claims that lapse, and a teacher's view and adjustment of a challenge's allocation."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from services.peer_review.domain import allocation
from services.peer_review.domain.allocation import Pairing, Person, Slot, from_another_cohort
from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentMode,
    AssignmentStatus,
    Target,
    TargetStatus,
    due_at,
    reviewers_needed,
)
from services.peer_review.usecases.context import Context
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import TargetKind
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.faults import crash_point
from shared.ids import new_id

log = structlog.get_logger(__name__)

# The pull queue reads open targets a page at a time (oldest first), at most this many pages.
QUEUE_WINDOW = 500
QUEUE_PAGES = 40
LAPSED_BATCH = 200
# How many people active in a resource's tags are considered as its revision's verifiers.
VERIFIER_POOL = 50
ASSIGNMENT_BATCH = 100


@dataclass(frozen=True)
class ChallengeState:
    """A challenge's targets and assignments, read once, from which slots and the pool are built."""

    targets: list[Target]
    assignments: list[Assignment]

    def pool(self) -> list[Person]:
        """Return the challenge's submitters (give-to-get: who submits, reviews), with their cohorts."""
        people: dict[str, Person] = {}
        for target in self.targets:
            if target.kind == TargetKind.SUBMISSION and target.status != TargetStatus.WITHDRAWN:
                people[target.author_id] = Person(target.author_id, frozenset(target.author_cohorts))
        return list(people.values())

    def slots(self, only: Iterable[str] | None = None) -> list[Slot]:
        """Return the challenge's open targets as slots (optionally only these keys)."""
        return slots_of(self.targets, self.assignments, only)

    def load(self) -> Counter[str]:
        """Return how many active assignments each person has in the challenge."""
        return Counter(assignment.reviewer_id for assignment in self.assignments if assignment.active)

    def pairs(self) -> set[tuple[str, str]]:
        """Return who reviews whose work, as (reviewer, author) pairs of active assignments."""
        return {(a.reviewer_id, a.author_id) for a in self.assignments if a.active}


def slots_of(
    targets: Sequence[Target], assignments: Sequence[Assignment], only: Iterable[str] | None = None
) -> list[Slot]:
    """Return open targets as slots: who is on each, who may never be, what each still needs."""
    wanted = set(only) if only is not None else None
    by_target: dict[str, list[Assignment]] = {}
    for assignment in assignments:
        by_target.setdefault(assignment.target_key, []).append(assignment)
    slots: list[Slot] = []
    for target in targets:
        if not target.open or (wanted is not None and target.key not in wanted):
            continue
        on_target = by_target.get(target.key, [])
        # Reviewers of an earlier round stay off the target (never twice); only this round's count.
        active = [assignment for assignment in on_target if assignment.active and assignment.round == target.round]
        earlier = [assignment for assignment in on_target if assignment not in active]
        author = Person(target.author_id, frozenset(target.author_cohorts))
        slots.append(
            Slot(
                target_id=target.key,
                author=author,
                needed=reviewers_needed(target, len(active)),
                reviewers=frozenset(assignment.reviewer_id for assignment in active),
                excluded=frozenset(assignment.reviewer_id for assignment in earlier),
                diverse=any(
                    from_another_cohort(Person(a.reviewer_id, frozenset(a.reviewer_cohorts)), author) for a in active
                ),
                created_at=target.created_at,
            )
        )
    return slots


def read_challenge(challenge_id: str, context: Context) -> ChallengeState:
    """Return a challenge's targets and assignments."""
    return ChallengeState(context.targets.of_challenge(challenge_id), context.assignments.of_challenge(challenge_id))


def seed_of(challenge_id: str) -> int:
    """Return the allocation seed of a challenge: fixed, so an allocation run again decides alike."""
    return zlib.crc32(challenge_id.encode())


def _assignment_event(
    event_type: EventType, assignment: Assignment, target: Target, context: Context, **extra: Any
) -> Event:
    data = {
        "assignment_id": assignment.id,
        "target_kind": assignment.kind.value,
        "target_id": assignment.target_id,
        "reviewer_id": assignment.reviewer_id,
        "challenge_id": assignment.challenge_id,
        "tags": list(target.tags),
        "cohorts": list(assignment.reviewer_cohorts),
        **extra,
    }
    return context.event(event_type, None, data, context.clock())


def create_assignments(
    pairings: Sequence[tuple[Target, Person]], *, mode: AssignmentMode, origin: str, context: Context
) -> list[Assignment]:
    """Store new assignments, each with its `review.assigned`; return those stored (existing pairs skipped)."""
    now = context.clock()
    made: list[tuple[Assignment, list[Event]]] = []
    for target, reviewer in pairings:
        assignment = Assignment(
            id=new_id(),
            kind=target.kind,
            target_id=target.target_id,
            reviewer_id=reviewer.user_id,
            author_id=target.author_id,
            created_at=now,
            due_at=due_at(target.rules, now),
            challenge_id=target.challenge_id,
            reviewer_cohorts=tuple(sorted(reviewer.cohorts)),
            mode=mode,
            round=target.round,
        )
        event = _assignment_event(
            EventType.REVIEW_ASSIGNED,
            assignment,
            target,
            context,
            due_at=assignment.due_at.isoformat(),
            mode=mode.value,
        )
        made.append((assignment, [event]))
    stored: set[str] = set()
    # In batches, so a class's allocation is a few bulk writes; a crash between two leaves only whole
    # assignments, and running the allocation again adds the rest.
    for start in range(0, len(made), ASSIGNMENT_BATCH):
        stored.update(context.assignments.add_many(made[start : start + ASSIGNMENT_BATCH], origin=origin))
        crash_point("peer_review.assignments.after_batch")
    return [assignment for assignment, _ in made if assignment.id in stored]


def _by_key(targets: Iterable[Target]) -> dict[str, Target]:
    return {target.key: target for target in targets}


def _store_pairings(
    pairings: Sequence[Pairing], state: ChallengeState, people: Iterable[Person], *, origin: str, context: Context
) -> list[Assignment]:
    targets = _by_key(state.targets)
    person = {candidate.user_id: candidate for candidate in people}
    chosen = [(targets[pairing.target_id], person[pairing.reviewer_id]) for pairing in pairings]
    return create_assignments(chosen, mode=AssignmentMode.PUSH, origin=origin, context=context)


# ---------------------------------------------------------------------------------------------------------------
# Give-to-get, allocation, replacement


def give_to_get(target: Target, context: Context) -> list[Assignment]:
    """Assign an arriving author to earlier work of the challenge still short of reviewers.

    The author reviews as many as each submission needs (give what you get). A redelivered arrival adds
    only what the first delivery did not get to.
    """
    if target.challenge_id is None:
        return []
    made = context.assignments.count_made_for(target.author_id, target.challenge_id, "arrival")
    count = target.rules.reviewers - made
    if count <= 0:
        return []
    state = read_challenge(target.challenge_id, context)
    arriving = Person(target.author_id, frozenset(target.author_cohorts))
    earlier = [slot for slot in state.slots() if slot.target_id != target.key]
    chosen = allocation.pick_targets_for(arriving, earlier, count)
    targets = _by_key(state.targets)
    return create_assignments(
        [(targets[slot.target_id], arriving) for slot in chosen],
        mode=AssignmentMode.PUSH,
        origin="arrival",
        context=context,
    )


def allocate_challenge(challenge_id: str, context: Context, *, only: Iterable[str] | None = None) -> list[Assignment]:
    """Give every open target of the challenge (or only these) the reviewers it still needs, over all submitters.

    Safe to run again: it starts from the assignments that exist and adds only what is missing.
    """
    state = read_challenge(challenge_id, context)
    pool = state.pool()
    pairings = allocation.allocate(
        state.slots(only), pool, load=state.load(), reviews_of=state.pairs(), seed=seed_of(challenge_id)
    )
    created = _store_pairings(pairings, state, pool, origin="allocation", context=context)
    if created:
        log.info("challenge_allocated", challenge_id=challenge_id, assignments=len(created))
    return created


def allocate_for_teacher(challenge_id: str, *, actor: Principal, context: Context) -> list[Assignment]:
    """Allocate a challenge's submissions now (its teacher or an admin), e.g. before its end."""
    check_manages(challenge_id, actor, context)
    if not context.targets.of_challenge(challenge_id):
        raise NotFound(f"No submissions to challenge {challenge_id} have reached peer review")
    return allocate_challenge(challenge_id, context)


def check_manages(challenge_id: str, actor: Principal, context: Context) -> None:
    """Refuse anyone but the challenge's teacher or an admin."""
    if actor.is_admin:
        return
    owner = context.challenges.owner_of(challenge_id)
    if owner is None:
        raise NotFound(f"No challenge with id {challenge_id} is known to peer review")
    if not actor.has_any(Role.TEACHER) or owner != actor.user_id:
        raise Forbidden("Only the challenge's teacher or an admin may see or change its allocation")


# ---------------------------------------------------------------------------------------------------------------
# The pull queue


def next_assignment(
    *, actor: Principal, context: Context, challenge_id: str | None = None, kind: TargetKind | None = None
) -> AssignmentView | None:
    """Claim the oldest eligible target with the fewest reviews; the claim lapses after the review's due hours."""
    audiences: dict[str, tuple[str, ...] | None] = {}
    reviewer = Person(actor.user_id, frozenset(actor.cohorts))
    # Page through the open targets, oldest first, until a page holds one the caller may take: targets
    # fully assigned but not yet reviewed stay open and may fill the first pages.
    for page_number in range(QUEUE_PAGES):
        page = context.targets.open_targets(
            kind=kind.value if kind else None,
            challenge_id=challenge_id,
            limit=QUEUE_WINDOW,
            offset=page_number * QUEUE_WINDOW,
        )
        candidates = [target for target in page if _may_pull(target, actor, audiences, context)]
        assignments = context.assignments.of_targets([target.key for target in candidates])
        chosen = allocation.next_target(reviewer, slots_of(candidates, assignments))
        if chosen is not None:
            target = _by_key(candidates)[chosen.target_id]
            created = create_assignments(
                [(target, reviewer)], mode=AssignmentMode.PULL, origin="queue", context=context
            )
            return views_of(created, context)[0] if created else None
        if len(page) < QUEUE_WINDOW:
            return None
    return None


def _may_pull(target: Target, actor: Principal, audiences: dict[str, tuple[str, ...] | None], context: Context) -> bool:
    """Return whether the caller may claim the target: a revision anyone but its proposer and owner; a
    submission anyone the challenge is open to (its audience read once per challenge into `audiences`)."""
    if target.kind == TargetKind.REVISION:
        return actor.user_id not in (target.author_id, target.owner_id)
    # Submissions are reviewed by peers: learners, never the challenge's staff.
    if target.challenge_id is None or not actor.has_any(Role.LEARNER) or actor.is_staff:
        return False
    if target.challenge_id not in audiences:
        audiences[target.challenge_id] = context.challenges.cohorts_of(target.challenge_id)
    audience = audiences[target.challenge_id]
    return not audience or bool(set(audience) & set(actor.cohorts))


# ---------------------------------------------------------------------------------------------------------------
# Ending an assignment without a review


def _end(
    assignment: Assignment, status: AssignmentStatus, reason: str, context: Context, target: Target | None
) -> Assignment:
    review = context.reviews.of_assignment(assignment.id)
    if review is not None:
        # Reviewed, though a crash kept the assignment from being marked so: mark it, never take it back.
        reviewed = replace(
            assignment, status=AssignmentStatus.SUBMITTED, ended_at=review.submitted_at, review_id=review.id
        )
        context.assignments.save(reviewed, AssignmentStatus.ASSIGNED)
        raise InvalidState("This assignment was reviewed already")
    now = context.clock()
    ended = replace(assignment, status=status, ended_at=now)
    events = []
    if target is not None:
        events.append(_assignment_event(EventType.REVIEW_DECLINED, ended, target, context, reason=reason))
    if not context.assignments.save(ended, AssignmentStatus.ASSIGNED, events):
        current = context.assignments.get(assignment.id) or assignment
        raise InvalidState(f"This assignment is {current.status.value} already")
    return ended


def decline(assignment_id: str, *, actor: Principal, context: Context) -> AssignmentView:
    """Decline one's assignment; its target goes to someone else, and the decliner loses access to it."""
    assignment = context.assignments.get(assignment_id)
    if assignment is None or assignment.reviewer_id != actor.user_id:
        raise NotFound(f"No assignment with id {assignment_id}")
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise InvalidState(f"This assignment is {assignment.status.value}; only an open one can be declined")
    target = context.targets.get(assignment.kind, assignment.target_id)
    declined = _end(assignment, AssignmentStatus.DECLINED, "declined", context, target)
    if target is not None:
        replace_reviewer(target, context)
    return views_of([declined], context)[0]


def replace_reviewer(target: Target, context: Context) -> list[Assignment]:
    """Hand a target short of reviewers to someone else at once (after a decline or a reassignment)."""
    if not target.open:
        return []
    if target.kind == TargetKind.REVISION:
        return ask_verifiers(target, context)
    if target.challenge_id is None:
        return []
    return allocate_challenge(target.challenge_id, context, only=[target.key])


def ask_verifiers(target: Target, context: Context) -> list[Assignment]:
    """Ask people active in the resource's tags to verify a revision, never its proposer nor the owner.

    Where too few are known, the revision waits in the queue (`POST /assignments/next` with `kind=revision`).
    """
    slots = slots_of([target], context.assignments.of_target(target.kind, target.target_id))
    if not slots or slots[0].needed <= 0:
        return []
    slot = slots[0]
    pool = [
        person
        for person in context.people.active_in(target.tags, limit=VERIFIER_POOL)
        if person.user_id not in (target.author_id, target.owner_id)
    ]
    pairings = allocation.allocate([slot], pool, seed=seed_of(target.target_id))
    person = {candidate.user_id: candidate for candidate in pool}
    return create_assignments(
        [(target, person[pairing.reviewer_id]) for pairing in pairings],
        mode=AssignmentMode.PUSH,
        origin="verification",
        context=context,
    )


def expire_lapsed_claims(*, context: Context, limit: int = LAPSED_BATCH) -> int:
    """End claims from the queue whose time ran out; their targets return to the pool (run on a timer)."""
    expired = 0
    for assignment in context.assignments.lapsed_claims(context.clock(), limit):
        target = context.targets.get(assignment.kind, assignment.target_id)
        try:
            _end(assignment, AssignmentStatus.EXPIRED, "expired", context, target)
        except InvalidState:
            continue  # reviewed or declined at the last moment
        expired += 1
    return expired


def cancel_on_target(target: Target, reason: str, context: Context) -> int:
    """End the unreviewed assignments on a target that left review (withdrawn, or decided elsewhere)."""
    cancelled = 0
    for assignment in context.assignments.of_target(target.kind, target.target_id):
        if assignment.status != AssignmentStatus.ASSIGNED:
            continue
        try:
            _end(assignment, AssignmentStatus.CANCELLED, reason, context, target)
        except InvalidState:
            continue
        cancelled += 1
    return cancelled


# ---------------------------------------------------------------------------------------------------------------
# Reading


def list_own(
    *,
    actor: Principal,
    context: Context,
    limit: int,
    offset: int,
    status: AssignmentStatus | None = None,
    kind: TargetKind | None = None,
    challenge_id: str | None = None,
) -> tuple[list[AssignmentView], int]:
    """List the caller's assignments, newest first."""
    items, total = context.assignments.of_reviewer(
        actor.user_id,
        statuses=[status] if status else None,
        kind=kind.value if kind else None,
        challenge_id=challenge_id,
        limit=limit,
        offset=offset,
    )
    return views_of(items, context), total


def get_own(assignment_id: str, *, actor: Principal, context: Context) -> AssignmentView:
    """Return one of the caller's assignments (others' do not exist for them)."""
    assignment = context.assignments.get(assignment_id)
    if assignment is None or assignment.reviewer_id != actor.user_id:
        raise NotFound(f"No assignment with id {assignment_id}")
    return views_of([assignment], context)[0]


@dataclass(frozen=True)
class TargetAllocation:
    """One target of a challenge as its teacher sees the allocation: its reviewers and what it still needs."""

    target: Target
    assignments: tuple[Assignment, ...]
    needed: int


def challenge_allocation(
    challenge_id: str, *, actor: Principal, context: Context, limit: int, offset: int
) -> tuple[list[TargetAllocation], int]:
    """Return a page of a challenge's targets with their assignments (its teacher or an admin)."""
    check_manages(challenge_id, actor, context)
    state = read_challenge(challenge_id, context)
    by_target: dict[str, list[Assignment]] = {}
    for assignment in state.assignments:
        by_target.setdefault(assignment.target_key, []).append(assignment)
    items = [
        TargetAllocation(
            target=target,
            assignments=tuple(by_target.get(target.key, ())),
            needed=reviewers_needed(target, sum(1 for a in by_target.get(target.key, ()) if a.active)),
        )
        for target in state.targets
    ]
    return items[offset : offset + limit], len(items)


def reassign(assignment_id: str, reviewer_id: str, *, actor: Principal, context: Context) -> Assignment:
    """Give an open assignment to another reviewer (the challenge's teacher or an admin)."""
    assignment = context.assignments.get(assignment_id)
    if assignment is None:
        raise NotFound(f"No assignment with id {assignment_id}")
    if assignment.challenge_id is not None:
        check_manages(assignment.challenge_id, actor, context)
    elif not actor.is_staff:
        # A revision's verification is any teacher's to adjust, as any teacher may decide it.
        raise Forbidden("Only a teacher or an admin may reassign a verification")
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise InvalidState(f"This assignment is {assignment.status.value}; only an open one can be reassigned")
    target = context.targets.get(assignment.kind, assignment.target_id)
    if target is None or not target.open:
        raise InvalidState("Its target no longer takes reviews")
    if reviewer_id == target.author_id:
        raise InvalidField("reviewer_id", "Nobody reviews their own work")
    if any(other.reviewer_id == reviewer_id for other in context.assignments.of_target(target.kind, target.target_id)):
        raise InvalidField("reviewer_id", "This person is on this target already, or was")
    cohorts = context.people.cohorts_of([reviewer_id]).get(reviewer_id, frozenset())
    _end(assignment, AssignmentStatus.CANCELLED, "reassigned", context, target)
    created = create_assignments(
        [(target, Person(reviewer_id, cohorts))], mode=AssignmentMode.PUSH, origin="teacher", context=context
    )
    if not created:
        raise InvalidState("This person was given this target meanwhile")
    return created[0]


def is_late(assignment: Assignment, now: datetime) -> bool:
    """Return whether an open assignment is past its due time."""
    return assignment.status == AssignmentStatus.ASSIGNED and assignment.late(now)


@dataclass(frozen=True)
class AssignmentView:
    """An assignment as its reviewer sees it: whether it is late, and for a revision, the change to verify."""

    assignment: Assignment
    late: bool
    resource_id: str | None = None
    details: Mapping[str, Any] | None = None


def views_of(assignments: Sequence[Assignment], context: Context) -> list[AssignmentView]:
    """Return the assignments as their reviewer sees them."""
    now = context.clock()
    views: list[AssignmentView] = []
    for assignment in assignments:
        target = (
            context.targets.get(assignment.kind, assignment.target_id)
            if assignment.kind == TargetKind.REVISION
            else None
        )
        views.append(
            AssignmentView(
                assignment=assignment,
                late=is_late(assignment, now),
                resource_id=target.resource_id if target else None,
                details=dict(target.details or {}) if target else None,
            )
        )
    return views
