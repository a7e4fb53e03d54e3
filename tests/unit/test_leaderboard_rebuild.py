"""Rebuilding the boards from the ledger, and replaying the received events under a rule book.

Random histories are mixes of every kind of event the rules award (shares, endorsements, decided updates,
reviews on time, late or outside, ratings, grades and their overrides, events delivered again) cut into
random batches, with staff awards and reversals between batches. Every learner's first event names their
cohorts, which never change, so where an award lands does not depend on how the history was batched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.leaderboards.domain.ledger import Category, ledger_key
from services.leaderboards.domain.rules import Caps, RuleBook
from services.leaderboards.usecases import awarding, rebuilding
from services.leaderboards.usecases.context import Scoring
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.ids import new_id
from tests.builders import NOW, admin
from tests.fakes.leaderboards import FakeLeaderboards, default_scoring
from tests.leaderboard_events import event
from tests.leaderboard_events import shared as shared_event

ADMIN = admin()
COHORTS: Mapping[str, Sequence[str]] = {"ann": ["7a"], "ben": ["7a", "7b"], "cat": ["7b"], "dan": []}
USERS = tuple(COHORTS)
# Events happen over two days ending the day before NOW: staff act on a day of their own.
START = NOW - timedelta(days=4)
DEFAULT = default_scoring()


def changed(book: RuleBook, version: int, **rules: Mapping[str, Any]) -> RuleBook:
    """Return the book with some rules' fields changed, under a new version."""
    return replace(
        book,
        version=version,
        rules=tuple(replace(rule, **rules[rule.name]) if rule.name in rules else rule for rule in book.rules),
    )


# The default book with caps so tight that short histories reach each of them.
TIGHT = replace(
    DEFAULT,
    book=replace(
        changed(
            DEFAULT.book,
            DEFAULT.book.version,
            **{"resource.shared": {"caps": Caps(per_day=1)}, "resource.endorsed": {"caps": Caps(per_object=1)}},
        ),
        daily_activity_cap=25,
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Events as their producers emit them


def shared(owner: str, at: datetime) -> Event:
    return shared_event(owner, at, COHORTS[owner], tags=["astronomy"])


# ---------------------------------------------------------------------------------------------------------------
# Random histories


minutes = st.integers(min_value=0, max_value=2 * 24 * 60 - 1)
users = st.sampled_from(USERS)
picks = st.integers(min_value=0, max_value=1000)

shares = st.tuples(st.just("share"), users, minutes)
endorsements = st.tuples(st.just("endorse"), users, picks, minutes)
decisions = st.tuples(
    st.just("decide"),
    st.booleans(),
    users,
    st.sets(users, max_size=2),
    st.sampled_from(["peers", "owner", "teacher"]),
    st.booleans(),
    minutes,
)
reviews = st.tuples(
    st.just("review"),
    users,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sets(st.sampled_from(["8a", "8b", "8c"]), max_size=2),
    minutes,
)
ratings = st.tuples(st.just("rate"), picks, st.integers(min_value=1, max_value=5), minutes)
grades = st.tuples(
    st.just("grade"),
    users,
    st.integers(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=20).map(lambda twentieths: twentieths / 20),
    st.sampled_from([10, 45, None]),
    st.lists(st.tuples(users, st.sampled_from([1.0, 0.7, 0.5, 0.3, 0.0]), st.booleans()), max_size=2),
    minutes,
)
redeliveries = st.tuples(st.just("again"), picks)
event_steps = st.one_of(
    shares, shares, endorsements, decisions, reviews, reviews, ratings, grades, grades, redeliveries
)
cut = st.just(("cut",))
awards = st.tuples(
    st.just("award"),
    users,
    st.one_of(st.integers(min_value=-30, max_value=-1), st.integers(min_value=1, max_value=60)),
    st.booleans(),
)
staff_steps = st.one_of(awards, st.tuples(st.just("reverse"), picks))
histories = st.lists(st.one_of(event_steps, event_steps, cut, staff_steps), min_size=8, max_size=45)
event_histories = st.lists(st.one_of(event_steps, event_steps, cut), min_size=8, max_size=45)


@dataclass
class History:
    """A history made concrete: batches of events, with staff steps between them."""

    steps: list[tuple[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    resources: list[tuple[str, str]] = field(default_factory=list)
    reviews: list[tuple[str, str, str]] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)

    def at(self, minute: int) -> datetime:
        return START + timedelta(minutes=minute)

    def add(self, one: Event) -> None:
        if not self.steps or self.steps[-1][0] != "batch":
            self.steps.append(("batch", []))
        self.steps[-1][1].append(one)
        self.events.append(one)
        if one.type == EventType.RESOURCE_SHARED:
            self.resources.append((one.data["resource_id"], one.data["owner_id"]))

    def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "cut":
            self.steps.append(("cut", None))
        elif kind in ("award", "reverse"):
            self.steps.append((kind, step[1:]))
        elif kind == "again":
            self.add(self.events[step[1] % len(self.events)])
        else:
            self.add(getattr(self, kind)(step[1:]))

    def share(self, spec: tuple[str, int]) -> Event:
        owner, minute = spec
        return shared(owner, self.at(minute))

    def endorse(self, spec: tuple[str, int, int]) -> Event:
        endorser, pick, minute = spec
        resource_id, owner = self.resources[pick % len(self.resources)]
        data = {"resource_id": resource_id, "owner_id": owner, "endorser_id": endorser}
        return event(EventType.RESOURCE_ENDORSED, self.at(minute), {**data, "cohorts": list(COHORTS[endorser])})

    def decide(self, spec: tuple[bool, str, set[str], str, bool, int]) -> Event:
        accepted, proposer, verifiers, decided_by, flagged, minute = spec
        return event(
            EventType.RESOURCE_REVISION_ACCEPTED if accepted else EventType.RESOURCE_REVISION_REJECTED,
            self.at(minute),
            {
                "revision_id": new_id(),
                "resource_id": new_id(),
                "owner_id": "olga",
                "proposer_id": proposer,
                "changed_fields": ["summary"],
                "base_version": 1,
                "flagged_outdated": flagged,
                "decided_by": decided_by,
                "verifier_ids": sorted(verifiers - {proposer}),
                "cohorts": list(COHORTS[proposer]),
            },
        )

    def review(self, spec: tuple[str, bool, bool, bool, set[str], int]) -> Event:
        reviewer, late, outside, reciprocal, author_cohorts, minute = spec
        review_id, target_id = new_id(), new_id()
        self.reviews.append((review_id, reviewer, target_id))
        return event(
            EventType.REVIEW_SUBMITTED,
            self.at(minute),
            {
                "assignment_id": new_id(),
                "target_kind": "submission",
                "target_id": target_id,
                "reviewer_id": reviewer,
                "review_id": review_id,
                "author_id": "zoe",
                "late": late,
                "outside_cohorts": outside,
                "reciprocal": reciprocal,
                "author_cohorts": sorted(author_cohorts),
                "cohorts": list(COHORTS[reviewer]),
                "challenge_id": "c1",
            },
        )

    def rate(self, spec: tuple[int, int, int]) -> Event:
        pick, helpfulness, minute = spec
        if not self.reviews:
            return self.share(("dan", minute))
        review_id, reviewer, target_id = self.reviews[pick % len(self.reviews)]
        return event(
            EventType.REVIEW_RATED,
            self.at(minute),
            {
                "assignment_id": new_id(),
                "target_kind": "submission",
                "target_id": target_id,
                "reviewer_id": reviewer,
                "review_id": review_id,
                "author_id": "zoe",
                "helpfulness": helpfulness,
                "cohorts": list(COHORTS[reviewer]),
            },
        )

    def grade(self, spec: tuple[str, int, float, int | None, list[tuple[str, float, bool]], int]) -> Event:
        author, target, grade, points, reviews, minute = spec
        target_id = f"t{target}"
        overridden = target_id in self.targets
        author = self.targets.setdefault(target_id, author)
        reviewers = {reviewer: (accuracy, collusion) for reviewer, accuracy, collusion in reviews if reviewer != author}
        return event(
            EventType.TARGET_GRADED,
            self.at(minute),
            {
                "target_kind": "submission",
                "target_id": target_id,
                "author_id": author,
                "grade": grade,
                "points": points,
                "overridden": overridden,
                "cohorts": list(COHORTS[author]),
                "challenge_id": "c1",
                "reviews": [
                    {"review_id": new_id(), "reviewer_id": reviewer, "accuracy": accuracy, "collusion_suspected": flag}
                    for reviewer, (accuracy, flag) in sorted(reviewers.items())
                ],
            },
        )


def concrete(steps: Sequence[tuple[Any, ...]]) -> History:
    """Make a history of steps, every learner first sharing a resource (which names their cohorts)."""
    history = History()
    for number, user in enumerate(USERS):
        history.add(shared(user, history.at(number)))
    for step in steps:
        history.step(step)
    return history


def deliver(fake: FakeLeaderboards, events: Sequence[Event]) -> None:
    awarding.apply_events([(one, load_payload(one.type, one.data)) for one in events], context=fake.context())


def run(history: History, scoring: Scoring = DEFAULT) -> FakeLeaderboards:
    """Deliver a history's batches and take its staff steps, in order; return the fakes."""
    fake = FakeLeaderboards(NOW, scoring=scoring)
    for kind, detail in history.steps:
        if kind == "batch":
            deliver(fake, detail)
        elif kind == "award":
            user_id, points, on_cohorts = detail
            fields = {"user_id": user_id, "points": points, "reason": "For the class"}
            awarding.award(
                {**fields, "cohorts": list(COHORTS[user_id]) if on_cohorts else []}, actor=ADMIN, context=fake.context()
            )
        elif kind == "reverse":
            reversible = reversible_keys(fake)
            if reversible:
                (pick,) = detail
                awarding.reverse(reversible[pick % len(reversible)], "Taken back", actor=ADMIN, context=fake.context())
    return fake


def reversible_keys(fake: FakeLeaderboards) -> list[str]:
    reversed_keys = {entry.reverses for entry in fake.ledger.entries.values() if entry.reverses}
    return [key for key, entry in fake.ledger.entries.items() if not entry.reverses and key not in reversed_keys]


def boards(fake: FakeLeaderboards) -> dict[Any, dict[str, float]]:
    return {board: dict(members) for board, members in fake.boards.scores.items()}


def balances(fake: FakeLeaderboards) -> dict[str, tuple[int, int]]:
    return {user: fake.boards.balance(user) for user in {entry.user_id for entry in fake.ledger.entries.values()}}


def totals(fake: FakeLeaderboards) -> dict[str, int]:
    """Return every learner's points as the ledger sums them."""
    points: dict[str, int] = {}
    for entry in fake.ledger.entries.values():
        points[entry.user_id] = points.get(entry.user_id, 0) + entry.points
    return points


# ---------------------------------------------------------------------------------------------------------------
# Rebuilding


@settings(max_examples=50, deadline=None)
@given(steps=histories, scoring=st.sampled_from([DEFAULT, TIGHT]))
def test_rebuilding_the_boards_from_the_ledger_gives_exactly_the_boards_kept_incrementally(
    steps: list[tuple[Any, ...]], scoring: Scoring
) -> None:
    fake = run(concrete(steps), scoring)
    kept_boards, kept_balances, stream = boards(fake), balances(fake), list(fake.boards.stream)
    kept_counters = {key: dict(fields) for key, fields in fake.boards.counter_values.items()}
    kept_evidence = {key: dict(items) for key, items in fake.boards.evidence_lists.items() if items}
    kept_recent = {user: dict(items) for user, items in fake.boards.recent.items() if items}
    assert {user: points for user, (points, _) in kept_balances.items()} == totals(fake)
    report = rebuilding.rebuild_boards(context=fake.context())
    assert report.entries == len(fake.ledger.entries)
    assert boards(fake) == kept_boards
    assert balances(fake) == kept_balances
    assert fake.boards.stream == stream
    # The caps' usage and the badges' progress kept beside the boards come back exactly too.
    assert fake.boards.counter_values == kept_counters
    assert {key: items for key, items in fake.boards.evidence_lists.items() if items} == kept_evidence
    # So do each learner's newest entries, which the first page of their ledger is served from.
    assert {user: items for user, items in fake.boards.recent.items() if items} == kept_recent


@settings(max_examples=50, deadline=None)
@given(steps=event_histories, scoring=st.sampled_from([DEFAULT, TIGHT]))
def test_a_history_delivered_in_one_batch_or_in_many_gives_the_same_ledger_and_boards(
    steps: list[tuple[Any, ...]], scoring: Scoring
) -> None:
    history = concrete(steps)
    in_batches = run(history, scoring)
    at_once = FakeLeaderboards(NOW, scoring=scoring)
    deliver(at_once, history.events)
    assert at_once.ledger.entries == in_batches.ledger.entries
    assert boards(at_once) == boards(in_batches)
    assert balances(at_once) == balances(in_batches)


def test_a_rebuild_clears_what_the_ledger_does_not_hold() -> None:
    fake = run(concrete([("share", "ann", 10), ("review", "ben", False, False, False, set(), 20)]))
    fake.boards.apply(
        [replace(next(iter(fake.ledger.entries.values())), key="not-on-the-ledger", points=1000, user_id="mallory")]
    )
    rebuilding.rebuild_boards(context=fake.context())
    assert "mallory" not in fake.boards.standings()
    assert fake.boards.standings() == totals(fake)


# ---------------------------------------------------------------------------------------------------------------
# Replaying


@settings(max_examples=50, deadline=None)
@given(
    steps=st.lists(
        st.one_of(event_steps, event_steps, cut, awards),
        min_size=8,
        max_size=45,
    ),
    scoring=st.sampled_from([DEFAULT, TIGHT]),
)
def test_a_replay_under_the_rules_in_force_changes_nothing(steps: list[tuple[Any, ...]], scoring: Scoring) -> None:
    fake = run(concrete(steps), scoring)
    ledger = dict(fake.ledger.entries)
    report = rebuilding.replay(scoring, context=fake.context(), apply=True)
    assert report.events == len(fake.inbox.events)
    assert (report.changes, report.written) == ([], 0)
    assert fake.ledger.entries == ledger


def worth(points: int, *, per_day: int | None = 10) -> Scoring:
    """Return the default scoring with a share worth `points`, under version 2."""
    return replace(
        DEFAULT, book=changed(DEFAULT.book, 2, **{"resource.shared": {"points": points, "caps": Caps(per_day=per_day)}})
    )


def share_key(one: Event) -> str:
    return ledger_key(one.id, "resource.shared", one.data["owner_id"])


def test_a_replay_under_new_rules_reports_each_learners_change_and_applies_it_as_reversals_and_new_entries() -> None:
    history = concrete([("share", "ann", 60 + minute) for minute in range(11)] + [("share", "ben", 30)])
    fake = run(history)
    anns = [one for one in history.events if one.data.get("owner_id") == "ann"]
    # Ann shared twelve times on her first day: ten counted, two at 0.
    assert fake.boards.balance("ann") == (50, 12)
    eight = worth(8)
    report = rebuilding.replay(eight, context=fake.context())
    assert (report.version, report.events, report.written) == (2, len(history.events), 0)
    per_learner = report.per_learner()
    assert {user: change for user, (change, _) in per_learner.items()} == {"ann": 30, "ben": 6, "cat": 3, "dan": 3}
    assert {(change.key, change.before, change.after) for change in per_learner["ann"][1]} == {
        (share_key(one), 5, 8) for one in anns[:10]
    }
    assert fake.boards.balance("ann") == (50, 12)  # reported, not applied

    applied = rebuilding.replay(eight, context=fake.context(), apply=True)
    assert applied.changes == report.changes
    # Fourteen shares change: each is reversed, and awarded anew.
    assert applied.written == 2 * 14
    first = share_key(anns[0])
    assert {(key, entry.points) for key, entry in fake.ledger.entries.items() if key.endswith(first)} == {
        (first, 5),
        (f"reversal:{first}", -5),
        (f"replay:v2:{first}", 8),
    }
    assert fake.boards.balance("ann") == (80, 32)
    assert fake.boards.standings("cohort:7a") == {"ann": 80, "ben": 16}

    again = rebuilding.replay(eight, context=fake.context(), apply=True)
    assert (again.changes, again.written) == ([], 0)
    assert fake.boards.balance("ann") == (80, 32)


def test_a_replay_lifting_a_cap_awards_what_the_cap_had_left_at_0() -> None:
    history = concrete([("share", "ann", 60 + minute) for minute in range(11)])
    fake = run(history)
    report = rebuilding.replay(worth(5, per_day=None), context=fake.context(), apply=True)
    capped = [one for one in history.events if one.data.get("owner_id") == "ann"][10:]
    assert {(change.key, change.before, change.after) for change in report.changes} == {
        (share_key(one), 0, 5) for one in capped
    }
    assert report.written == 2
    assert fake.boards.balance("ann")[0] == 60


def test_staff_awards_and_what_staff_reversed_are_left_alone_by_a_replay() -> None:
    history = concrete([("share", "ann", 60), ("award", "ann", 25, True), ("share", "ann", 70)])
    fake = run(history)
    taken_back = share_key(history.events[-1])
    teacher = Principal(user_id="t-7a", roles=frozenset({Role.TEACHER}), cohorts=("7a",))
    awarding.reverse(taken_back, "Not hers", actor=teacher, context=fake.context())
    manual = [entry for entry in fake.ledger.entries.values() if entry.category == Category.MANUAL]
    report = rebuilding.replay(worth(8), context=fake.context(), apply=True)
    changed_keys = {change.key for change in report.changes}
    assert taken_back not in changed_keys
    assert not changed_keys & {entry.key for entry in manual}
    assert changed_keys == {
        share_key(one) for one in history.events if one.data.get("owner_id") and share_key(one) != taken_back
    }
    assert [entry for entry in fake.ledger.entries.values() if entry.category == Category.MANUAL] == manual
    assert fake.boards.balance("ann")[0] == 8 + 8 + 25


def test_a_replay_under_rules_without_a_rule_takes_its_awards_back() -> None:
    history = concrete([("review", "ann", False, False, False, {"8a"}, 60)])
    fake = run(history)
    without_reviews = replace(
        DEFAULT,
        book=replace(
            DEFAULT.book, version=2, rules=tuple(rule for rule in DEFAULT.book.rules if rule.name != "review.submitted")
        ),
    )
    report = rebuilding.replay(without_reviews, context=fake.context(), apply=True)
    (change,) = report.changes
    assert (change.user_id, change.rule, change.before, change.after) == ("ann", "review.submitted", 10, 0)
    assert change.reason == "No longer awarded by the rules in force"
    assert fake.boards.balance("ann")[0] == 5


@settings(max_examples=30, deadline=None)
@given(steps=event_histories, points=st.integers(min_value=1, max_value=12))
def test_a_replay_applied_leaves_every_balance_as_if_the_new_rules_had_always_been_in_force(
    steps: list[tuple[Any, ...]], points: int
) -> None:
    history = concrete(steps)
    new = worth(points, per_day=3)
    fake = run(history)
    rebuilding.replay(new, context=fake.context(), apply=True)
    always = run(history, new)
    assert totals(fake) == totals(always)
    assert {user: fake.boards.balance(user)[0] for user in USERS} == {
        user: always.boards.balance(user)[0] for user in USERS
    }
    again = rebuilding.replay(new, context=fake.context(), apply=True)
    assert (again.changes, again.written) == ([], 0)
