"""Challenge use cases over the in-memory fakes: what each one stores, refuses and announces.

The fakes honour the storage conditions the MongoDB repositories do (tests/integration/test_challenges_repositories.py
runs one contract over both). A race is played with two contexts over the same world: one caller's read is
followed at once by a rival's whole use case, and then the first caller goes on with what it read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import (
    MAX_PREREQUISITES,
    Challenge,
    ChallengeKind,
    ChallengeStatus,
    Criterion,
    ReviewSettings,
)
from services.challenges.domain.errors import Forbidden, InvalidField, InvalidState, NotFound
from services.challenges.usecases import challenges as usecases
from services.challenges.usecases.context import Context
from shared.contracts.auth import Principal
from shared.contracts.payloads import load_payload
from tests.builders import NOW, admin, learner, make_challenge, teacher
from tests.fakes.challenges import FakeChallenges, FakeWorld

OWNER = teacher("teacher-1")
OTHER_TEACHER = teacher("teacher-2")
ALICE = learner("alice", "7a")
OUTSIDER = learner("dave", "7b")
FIELDS: dict[str, Any] = {"title": "Explain photosynthesis", "description": "300 words for a 10-year-old"}


def _stored(world: FakeWorld, **overrides: Any) -> Challenge:
    challenge = make_challenge(**overrides)
    world.challenges.add(challenge)
    return challenge


def _draft(world: FakeWorld, **overrides: Any) -> Challenge:
    values: dict[str, Any] = {"status": ChallengeStatus.DRAFT, "published_at": None, **overrides}
    return _stored(world, **values)


def _get(world: FakeWorld, challenge_id: str) -> Challenge:
    challenge = world.challenges.get(challenge_id)
    assert challenge is not None
    return challenge


def _payloads(world: FakeWorld, event_type: str) -> list[dict[str, Any]]:
    """Return the data of the announced events of a type, each validated as its consumers validate it."""
    return [load_payload(event.type, event.data) for event in world.log.of_type(event_type)]


class RivalAfterRead(FakeChallenges):
    """The world's challenges as one caller reads them: right after its first read, a rival's use case runs.

    It shares the world's stored challenges and event log, so the rival (on the world's own context) and
    the caller (on a context over this) race over the same storage.
    """

    def __init__(self, world: FakeWorld, rival: Callable[[], object]) -> None:
        super().__init__(world.log)
        self.items = world.challenges.items
        self._rival: Callable[[], object] | None = rival

    def _after_read(self) -> None:
        rival, self._rival = self._rival, None
        if rival is not None:
            rival()

    def get(self, challenge_id: str) -> Challenge | None:
        challenge = super().get(challenge_id)
        self._after_read()
        return challenge

    def due_to_close(self, now: datetime, limit: int) -> list[Challenge]:
        due = super().due_to_close(now, limit)
        self._after_read()
        return due


def _racing(world: FakeWorld, rival: Callable[[Context], object]) -> Context:
    """Return a context whose first read of a challenge is followed by `rival` on a second context."""
    return replace(world.context(), challenges=RivalAfterRead(world, lambda: rival(world.context())))


# ---------------------------------------------------------------------------------------------------------------
# Creating


def test_a_teacher_creates_a_draft_they_own_and_nothing_is_announced(world: FakeWorld) -> None:
    fields = {
        **FIELDS,
        "tags": ["biology"],
        "kind": "resource",
        "rubric": [{"criterion": "Accuracy", "max_score": 5}],
        "review": {"reviewers_per_submission": 2, "due_hours": 24, "blind": False},
    }
    created = usecases.create_challenge(fields, actor=OWNER, context=world.context())
    assert (created.status, created.owner_id, created.created_at, created.open_now) == (
        ChallengeStatus.DRAFT,
        "teacher-1",
        NOW,
        False,
    )
    stored = _get(world, created.id)
    assert (stored.kind, stored.tags) == (ChallengeKind.RESOURCE, ("biology",))
    assert stored.rubric == (Criterion("Accuracy", 5),)
    assert stored.review == ReviewSettings(reviewers_per_submission=2, due_hours=24, blind=False)
    assert world.log.events == []


def test_a_window_ending_before_it_starts_is_refused_and_nothing_is_stored(world: FakeWorld) -> None:
    fields = {**FIELDS, "starts_at": NOW + timedelta(days=2), "ends_at": NOW + timedelta(days=1)}
    with pytest.raises(InvalidField) as refused:
        usecases.create_challenge(fields, actor=OWNER, context=world.context())
    assert refused.value.field == "ends_at"
    assert world.challenges.items == {}


# ---------------------------------------------------------------------------------------------------------------
# Prerequisites


def test_prerequisites_are_challenges_that_exist_and_take_submissions(world: FakeWorld) -> None:
    first = _stored(world)
    created = usecases.create_challenge({**FIELDS, "prerequisites": [first.id]}, actor=OWNER, context=world.context())
    assert _get(world, created.id).prerequisites == (first.id,)


@pytest.mark.parametrize(
    ("prerequisites", "message"),
    [
        (lambda world: ["0" * 24], "No challenge with id 000000000000000000000000"),
        (lambda world: [_stored(world, kind=ChallengeKind.RESOURCE).id], "takes no submissions"),
        (lambda world: [_stored(world).id for _ in range(MAX_PREREQUISITES + 1)], "At most 10 prerequisites"),
    ],
    ids=["unknown", "takes-no-submissions", "too-many"],
)
def test_prerequisites_that_cannot_be_completed_are_refused_and_nothing_is_stored(
    world: FakeWorld, prerequisites: Callable[[FakeWorld], list[str]], message: str
) -> None:
    named = prerequisites(world)
    before = dict(world.challenges.items)
    with pytest.raises(InvalidField, match=message) as refused:
        usecases.create_challenge({**FIELDS, "prerequisites": named}, actor=OWNER, context=world.context())
    assert refused.value.field == "prerequisites"
    assert world.challenges.items == before


def _chain(world: FakeWorld, length: int) -> list[Challenge]:
    """Store drafts c0 <- c1 <- ... where each needs the one before it; return them in that order."""
    chain = [_draft(world)]
    for _ in range(length - 1):
        chain.append(_draft(world, prerequisites=(chain[-1].id,)))
    return chain


@pytest.mark.parametrize("length", [1, 2, 4], ids=["itself", "a-direct-loop", "a-loop-three-steps-away"])
def test_prerequisites_leading_back_to_the_challenge_are_refused_and_it_is_unchanged(
    world: FakeWorld, length: int
) -> None:
    chain = _chain(world, length)
    first, last = chain[0], chain[-1]
    with pytest.raises(InvalidField) as refused:
        usecases.edit_challenge(first.id, {"prerequisites": [last.id]}, actor=OWNER, context=world.context())
    assert refused.value.field == "prerequisites"
    assert _get(world, first.id) == first


def test_prerequisites_sharing_an_ancestor_are_no_loop(world: FakeWorld) -> None:
    root = _stored(world)
    left, right = _stored(world, prerequisites=(root.id,)), _stored(world, prerequisites=(root.id,))
    draft = _draft(world)
    edited = usecases.edit_challenge(
        draft.id, {"prerequisites": [left.id, right.id]}, actor=OWNER, context=world.context()
    )
    assert edited.prerequisites == (left.id, right.id)


# ---------------------------------------------------------------------------------------------------------------
# Who may manage a challenge


def _edit(challenge_id: str, actor: Principal, context: Context) -> Challenge:
    return usecases.edit_challenge(challenge_id, {"title": "Renamed"}, actor=actor, context=context)


def _publish(challenge_id: str, actor: Principal, context: Context) -> Challenge:
    return usecases.publish_challenge(challenge_id, actor=actor, context=context)


def _close(challenge_id: str, actor: Principal, context: Context) -> Challenge:
    return usecases.close_challenge(challenge_id, actor=actor, context=context)


def _archive(challenge_id: str, actor: Principal, context: Context) -> Challenge:
    return usecases.archive_challenge(challenge_id, actor=actor, context=context)


Action = Callable[[str, Principal, Context], Challenge]
# Each action with a challenge it succeeds on (as its teacher or an admin).
ACTIONS: list[Any] = [
    pytest.param(_edit, ChallengeStatus.PUBLISHED, id="edit"),
    pytest.param(_publish, ChallengeStatus.DRAFT, id="publish"),
    pytest.param(_close, ChallengeStatus.PUBLISHED, id="close"),
    pytest.param(_archive, ChallengeStatus.CLOSED, id="archive"),
]


def _in_status(world: FakeWorld, status: ChallengeStatus) -> Challenge:
    published = {"published_at": None} if status == ChallengeStatus.DRAFT else {}
    closed = {"closed_at": NOW - timedelta(hours=1)} if status == ChallengeStatus.CLOSED else {}
    return _stored(world, status=status, **published, **closed)


@pytest.mark.parametrize(("action", "status"), ACTIONS)
@pytest.mark.parametrize("actor", [OWNER, admin()], ids=["its-teacher", "an-admin"])
def test_its_teacher_or_an_admin_manages_a_challenge_saving_a_new_version(
    world: FakeWorld, action: Action, status: ChallengeStatus, actor: Principal
) -> None:
    challenge = _in_status(world, status)
    changed = action(challenge.id, actor, world.context())
    stored = _get(world, challenge.id)
    assert stored.version == challenge.version + 1
    assert (stored.updated_at, stored.owner_id) == (NOW, "teacher-1")
    assert replace(changed, open_now=None) == stored


@pytest.mark.parametrize(("action", "status"), ACTIONS)
def test_another_teacher_may_not_manage_a_challenge_and_nothing_changes(
    world: FakeWorld, action: Action, status: ChallengeStatus
) -> None:
    challenge = _in_status(world, status)
    with pytest.raises(Forbidden):
        action(challenge.id, OTHER_TEACHER, world.context())
    assert _get(world, challenge.id) == challenge
    assert world.log.events == []


@pytest.mark.parametrize(("action", "status"), ACTIONS)
def test_a_learner_may_not_manage_a_challenge_and_is_not_told_a_draft_exists(
    world: FakeWorld, action: Action, status: ChallengeStatus
) -> None:
    challenge = _in_status(world, status)
    refusal = NotFound if status == ChallengeStatus.DRAFT else Forbidden
    with pytest.raises(refusal):
        action(challenge.id, ALICE, world.context())
    assert _get(world, challenge.id) == challenge
    assert world.log.events == []


def test_managing_an_unknown_challenge_is_not_found(world: FakeWorld) -> None:
    with pytest.raises(NotFound):
        _edit("0" * 24, OWNER, world.context())


# ---------------------------------------------------------------------------------------------------------------
# Editing


def test_an_edit_read_before_another_edit_was_saved_is_refused_and_the_other_one_stays(world: FakeWorld) -> None:
    draft = _draft(world)

    def rival(context: Context) -> None:
        usecases.edit_challenge(draft.id, {"title": "First"}, actor=OWNER, context=context)

    with pytest.raises(InvalidState, match="changed meanwhile"):
        usecases.edit_challenge(draft.id, {"title": "Second"}, actor=OWNER, context=_racing(world, rival))
    assert (_get(world, draft.id).title, _get(world, draft.id).version) == ("First", draft.version + 1)


def test_an_edit_announces_nothing(world: FakeWorld) -> None:
    challenge = _stored(world)
    usecases.edit_challenge(challenge.id, {"ends_at": NOW + timedelta(days=30)}, actor=OWNER, context=world.context())
    assert _get(world, challenge.id).ends_at == NOW + timedelta(days=30)
    assert world.log.events == []


# ---------------------------------------------------------------------------------------------------------------
# Publishing, closing, archiving: what is announced


def test_publishing_announces_the_rules_consumers_need_stamped_with_the_request(world: FakeWorld) -> None:
    rubric = (Criterion("Accuracy", 5), Criterion("Clarity", 3))
    draft = _draft(world, cohorts=("7a",), points=80, rubric=rubric, starts_at=NOW + timedelta(days=1))
    published = usecases.publish_challenge(draft.id, actor=OWNER, context=world.context(request_id="req-1"))
    assert (published.status, published.published_at, published.open_now) == (ChallengeStatus.PUBLISHED, NOW, False)
    (event,) = world.log.events
    assert (event.type, event.producer, event.actor_id, event.request_id) == (
        "challenge.published",
        "challenges",
        "teacher-1",
        "req-1",
    )
    (data,) = _payloads(world, "challenge.published")
    assert data["challenge_id"] == draft.id
    assert (data["owner_id"], data["kind"], data["points"], data["cohorts"]) == ("teacher-1", "submission", 80, ["7a"])
    assert data["rubric"] == [{"criterion": "Accuracy", "max_score": 5}, {"criterion": "Clarity", "max_score": 3}]
    assert data["review"] == {"reviewers_per_submission": 3, "due_hours": 72, "blind": True}
    assert (data["starts_at"], data["ends_at"], data["closed_at"]) == (draft.starts_at, draft.ends_at, None)


def test_a_challenges_own_points_for_rules_are_kept_announced_and_fixed_once_published(world: FakeWorld) -> None:
    created = usecases.create_challenge(
        {**FIELDS, "rule_points": {"review.submitted": 15}}, actor=OWNER, context=world.context()
    )
    assert _get(world, created.id).rule_points == {"review.submitted": 15}
    usecases.publish_challenge(created.id, actor=OWNER, context=world.context())
    (data,) = _payloads(world, "challenge.published")
    # A list in events (and documents): rule names hold dots, which MongoDB field names cannot.
    assert data["rule_points"] == [{"rule": "review.submitted", "points": 15}]
    with pytest.raises(InvalidState):
        usecases.edit_challenge(
            created.id, {"rule_points": {"review.submitted": 30}}, actor=OWNER, context=world.context()
        )
    assert _get(world, created.id).rule_points == {"review.submitted": 15}


def test_a_challenge_is_published_once(world: FakeWorld) -> None:
    draft = _draft(world)
    usecases.publish_challenge(draft.id, actor=OWNER, context=world.context())
    with pytest.raises(InvalidState):
        usecases.publish_challenge(draft.id, actor=OWNER, context=world.context())
    assert world.log.types() == ["challenge.published"]


def test_closing_by_hand_announces_the_closing_by_its_teacher(world: FakeWorld) -> None:
    challenge = _stored(world)
    closed = usecases.close_challenge(challenge.id, actor=OWNER, context=world.context())
    assert (closed.status, closed.closed_at, closed.open_now) == (ChallengeStatus.CLOSED, NOW, False)
    (event,) = world.log.events
    assert event.actor_id == "teacher-1"
    (data,) = _payloads(world, "challenge.closed")
    assert (data["challenge_id"], data["closed_at"]) == (challenge.id, NOW)


def test_closing_by_hand_after_the_end_is_refused_for_it_closed_at_its_end(world: FakeWorld) -> None:
    challenge = _stored(world, ends_at=NOW + timedelta(hours=1))
    world.now = NOW + timedelta(hours=1, minutes=5)
    with pytest.raises(InvalidState, match="closed at its ends_at"):
        usecases.close_challenge(challenge.id, actor=OWNER, context=world.context())
    assert _get(world, challenge.id) == challenge
    assert world.log.events == []


@pytest.mark.parametrize("status", [ChallengeStatus.DRAFT, ChallengeStatus.CLOSED])
def test_archiving_a_draft_or_a_closed_challenge_announces_nothing(world: FakeWorld, status: ChallengeStatus) -> None:
    challenge = _in_status(world, status)
    archived = usecases.archive_challenge(challenge.id, actor=OWNER, context=world.context())
    assert (archived.status, archived.archived_at) == (ChallengeStatus.ARCHIVED, NOW)
    assert world.log.events == []


def test_archiving_a_challenge_past_its_end_announces_its_closing_at_its_end(world: FakeWorld) -> None:
    end = NOW + timedelta(hours=1)
    challenge = _stored(world, ends_at=end)
    world.now = end + timedelta(minutes=1)
    archived = usecases.archive_challenge(challenge.id, actor=OWNER, context=world.context())
    assert (archived.status, archived.closed_at) == (ChallengeStatus.ARCHIVED, end)
    (event,) = world.log.events
    assert event.actor_id is None
    (data,) = _payloads(world, "challenge.closed")
    assert (data["challenge_id"], data["closed_at"]) == (challenge.id, end)


@pytest.mark.parametrize(
    ("action", "status", "announced"),
    [(_publish, ChallengeStatus.DRAFT, "challenge.published"), (_close, ChallengeStatus.PUBLISHED, "challenge.closed")],
    ids=["publish", "close"],
)
def test_of_two_racing_requests_one_is_saved_and_announced_and_the_other_refused(
    world: FakeWorld, action: Action, status: ChallengeStatus, announced: str
) -> None:
    challenge = _in_status(world, status)
    with pytest.raises(InvalidState, match="changed meanwhile"):
        action(challenge.id, OWNER, _racing(world, lambda context: action(challenge.id, admin(), context)))
    assert _get(world, challenge.id).version == challenge.version + 1
    (event,) = world.log.events
    assert (event.type, event.actor_id) == (announced, "admin-1")


# ---------------------------------------------------------------------------------------------------------------
# Closing at the end, on the worker's timer


def _due(world: FakeWorld, hours_ago: int) -> Challenge:
    return _stored(world, ends_at=NOW - timedelta(hours=hours_ago))


def test_the_timer_closes_each_challenge_past_its_end_once_announcing_it_as_the_system(world: FakeWorld) -> None:
    due = [_due(world, 2), _due(world, 1)]
    not_yet = _stored(world, ends_at=NOW + timedelta(minutes=1))
    draft_past_end = _draft(world, ends_at=NOW - timedelta(hours=1))
    endless = _stored(world, ends_at=None)
    assert usecases.close_due_challenges(context=world.context()) == 2
    assert usecases.close_due_challenges(context=world.context()) == 0
    for challenge in due:
        assert (_get(world, challenge.id).status, _get(world, challenge.id).closed_at) == (
            ChallengeStatus.CLOSED,
            challenge.ends_at,
        )
    for untouched in (not_yet, draft_past_end, endless):
        assert _get(world, untouched.id) == untouched
    assert [event.actor_id for event in world.log.events] == [None, None]
    closings = _payloads(world, "challenge.closed")
    assert [(data["challenge_id"], data["closed_at"]) for data in closings] == [
        (challenge.id, challenge.ends_at) for challenge in due
    ]


def test_the_timer_closes_at_most_a_batch_per_run(world: FakeWorld) -> None:
    for hours_ago in (3, 2, 1):
        _due(world, hours_ago)
    runs = [usecases.close_due_challenges(context=world.context(), limit=2) for _ in range(3)]
    assert runs == [2, 1, 0]
    assert len(world.log.of_type("challenge.closed")) == 3


def test_two_timers_racing_close_a_challenge_and_announce_it_once(world: FakeWorld) -> None:
    challenge = _due(world, 1)
    rival_closed: list[int] = []

    def rival_timer(context: Context) -> None:
        rival_closed.append(usecases.close_due_challenges(context=context))

    assert usecases.close_due_challenges(context=_racing(world, rival_timer)) == 0
    assert rival_closed == [1]
    assert _get(world, challenge.id).status == ChallengeStatus.CLOSED
    (data,) = _payloads(world, "challenge.closed")
    assert data["challenge_id"] == challenge.id


# ---------------------------------------------------------------------------------------------------------------
# Reading and listing: what learners see


def _ids(challenges: Sequence[Challenge]) -> set[str]:
    return {challenge.id for challenge in challenges}


def _listed(world: FakeWorld, actor: Principal, **filters: Any) -> set[str]:
    items, total = usecases.list_challenges(actor=actor, context=world.context(), limit=50, offset=0, **filters)
    assert total == len(items)
    return _ids(items)


def test_learners_list_only_published_and_closed_challenges_open_to_their_cohorts(world: FakeWorld) -> None:
    for_all = _stored(world)
    for_7a = _stored(world, cohorts=("7a",))
    closed = _in_status(world, ChallengeStatus.CLOSED)
    for_7b = _stored(world, cohorts=("7b",))
    hidden = [_draft(world), _in_status(world, ChallengeStatus.ARCHIVED)]
    assert _listed(world, ALICE) == {for_all.id, for_7a.id, closed.id}
    assert _listed(world, OUTSIDER) == {for_all.id, closed.id, for_7b.id}
    everything = {for_all.id, for_7a.id, closed.id, for_7b.id} | _ids(hidden)
    assert _listed(world, OTHER_TEACHER) == everything
    assert _listed(world, admin()) == everything


@pytest.mark.parametrize("status", list(ChallengeStatus))
def test_a_learner_filtering_by_status_never_reaches_drafts_or_archived_challenges(
    world: FakeWorld, status: ChallengeStatus
) -> None:
    in_status = {each: _in_status(world, each) for each in ChallengeStatus}
    visible = status in (ChallengeStatus.PUBLISHED, ChallengeStatus.CLOSED)
    assert _listed(world, ALICE, status=status) == ({in_status[status].id} if visible else set())
    assert _listed(world, OWNER, status=status) == {in_status[status].id}


def test_a_published_challenge_past_its_end_reads_and_lists_as_closed_at_its_end(world: FakeWorld) -> None:
    end = NOW + timedelta(hours=1)
    challenge = _stored(world, ends_at=end)
    world.now = end + timedelta(seconds=1)
    seen = usecases.read_challenge(challenge.id, actor=ALICE, context=world.context())
    assert (seen.status, seen.closed_at, seen.open_now) == (ChallengeStatus.CLOSED, end, False)
    assert _listed(world, ALICE, status=ChallengeStatus.CLOSED) == {challenge.id}
    assert _listed(world, ALICE, status=ChallengeStatus.PUBLISHED) == set()
    assert _get(world, challenge.id).status == ChallengeStatus.PUBLISHED  # stored closed only by the timer


@pytest.mark.parametrize(
    "hidden",
    [
        _draft,
        lambda world: _in_status(world, ChallengeStatus.ARCHIVED),
        lambda world: _stored(world, cohorts=("7b",)),
    ],
    ids=["draft", "archived", "other-cohort"],
)
def test_a_challenge_hidden_from_a_learner_does_not_exist_for_them_but_does_for_staff(
    world: FakeWorld, hidden: Callable[[FakeWorld], Challenge]
) -> None:
    challenge = hidden(world)
    with pytest.raises(NotFound):
        usecases.read_challenge(challenge.id, actor=ALICE, context=world.context())
    for staff in (OTHER_TEACHER, admin()):
        assert usecases.read_challenge(challenge.id, actor=staff, context=world.context()).id == challenge.id
