"""The points rule book: the packaged rules.toml, what load_rules refuses, and every rule's award under `evaluate`.

Events are worked out as the worker works them out: payloads validated by their schema, one event after
the other over one `Usage`, a replacing rule finding the beneficiary's earlier awards of the object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.leaderboards.domain.badges import load_badges
from services.leaderboards.domain.boards import Window
from services.leaderboards.domain.ledger import Category, LedgerEntry, ledger_key, reversal_key
from services.leaderboards.domain.rules import EventFacts, InvalidRules, RuleBook, Usage, evaluate, load_rules
from services.leaderboards.settings import DEFAULT_RULES, read_scoring
from services.leaderboards.usecases import awarding
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.builders import NOW
from tests.fakes.leaderboards import FakeLeaderboards
from tests.leaderboard_events import AN_HOUR_AGO, decided, endorsed, graded, rated, review_of, reviewed, shared

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
BOOK = read_scoring(DEFAULT_RULES, UTC_ZONE).book


# ---------------------------------------------------------------------------------------------------------------
# Events as their producers emit them


# ---------------------------------------------------------------------------------------------------------------
# Working events out as the worker does


@dataclass
class Worker:
    """Works events out one after the other over one usage, as a batch is worked out."""

    book: RuleBook = BOOK
    zone: ZoneInfo = UTC_ZONE
    cohorts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    entries: list[LedgerEntry] = field(default_factory=list)
    now: datetime = NOW

    def earlier(self, user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
        mine = [
            entry
            for entry in self.entries
            if (entry.user_id, entry.rule, entry.object_id) == (user_id, rule, object_id)
        ]
        reversed_keys = {entry.reverses for entry in mine if entry.reverses}
        return [entry for entry in mine if not entry.reverses and entry.key not in reversed_keys and entry.points]

    def __call__(self, *events: Event) -> list[LedgerEntry]:
        produced: list[LedgerEntry] = []
        for one in events:
            facts = EventFacts(one.id, one.type, one.occurred_at, self.now)
            entries = evaluate(
                facts,
                load_payload(one.type, one.data),
                self.book,
                self.usage,
                self.zone,
                cohorts_of=lambda user: self.cohorts.get(user, ()),
                earlier=self.earlier,
            )
            self.entries += entries
            produced += entries
        return produced


def only(entries: Sequence[LedgerEntry]) -> LedgerEntry:
    assert len(entries) == 1, entries
    return entries[0]


def points_of(entries: Sequence[LedgerEntry]) -> list[int]:
    return [entry.points for entry in entries]


# ---------------------------------------------------------------------------------------------------------------
# The rules file


def test_the_packaged_rules_file_loads_with_its_rules_levels_and_badges() -> None:
    scoring = read_scoring(DEFAULT_RULES, BERLIN)
    assert scoring.zone == BERLIN
    assert scoring.book.version >= 1
    assert scoring.book.daily_activity_cap == 200
    assert {rule.name for rule in scoring.book.rules} == {
        "resource.shared",
        "resource.endorsed",
        "knowledge.updated",
        "revision.verified_correctly",
        "revision.rejected_correctly",
        "review.submitted",
        "review.helpful",
        "review.accurate",
        "submission.graded",
    }
    assert scoring.book.level_thresholds[0] == 0
    assert list(scoring.book.level_thresholds) == sorted(set(scoring.book.level_thresholds))
    assert {badge.name for badge in scoring.badges} == {
        "first-share",
        "curator",
        "reviewer",
        "trusted-reviewer",
        "updater",
        "pluto",
        "connector",
        "streak",
    }


def a_rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "shared",
        "event": "resource.shared",
        "beneficiary": "owner_id",
        "object": "resource_id",
        "points": 5,
        "reason": "Shared",
    }
    rule.update(changes)
    return {key: value for key, value in rule.items() if value is not None}


def a_document(*rules: dict[str, Any], **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"version": 1, "daily_activity_cap": 200, "rules": list(rules) or [a_rule()]}
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def test_a_minimal_document_loads() -> None:
    book = load_rules(a_document())
    assert [rule.name for rule in book.rules] == ["shared"]
    assert book.for_event("resource.shared")[0].points == 5
    assert book.level_thresholds == (0,)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        pytest.param(a_document(a_rule(pointz=5)), "rule shared: unknown keys pointz", id="unknown rule key"),
        pytest.param(a_document(a_rule(), a_rule(points=3)), "rule names repeat: shared", id="repeated name"),
        pytest.param(a_document(a_rule(points=None)), "rule shared: give points or points_from", id="no points"),
        pytest.param(a_document(a_rule(points=0)), "rule shared: give points or points_from", id="zero points"),
        pytest.param(
            a_document(a_rule(boards_of="owner")), "rule shared: boards_of is payload or beneficiary", id="boards_of"
        ),
        pytest.param(a_document(a_rule(category="bonus")), "rule shared", id="unknown category"),
        pytest.param(a_document(a_rule(caps={"per_week": 3})), "rule shared", id="unknown cap"),
        pytest.param(a_document(a_rule(when=[{"field": "late", "is": True}])), "rule shared", id="unknown condition"),
        pytest.param(a_document(a_rule(event=None)), "rule shared", id="rule without event"),
        pytest.param(
            a_document(levels={"thresholds": [10, 50]}), "levels.thresholds must start at 0", id="levels from 10"
        ),
        pytest.param(
            a_document(levels={"thresholds": [0, 50, 40]}), "levels.thresholds must start at 0 and rise", id="falls"
        ),
        pytest.param(
            a_document(levels={"thresholds": [0, 50, 50]}), "levels.thresholds must start at 0 and rise", id="flat"
        ),
        pytest.param(a_document(levels={"thresholds": []}), "levels.thresholds", id="no levels"),
        pytest.param(a_document(version=0), "version", id="version 0"),
        pytest.param(a_document(version=None), "version", id="no version"),
        pytest.param(a_document(daily_activity_cap=-1), "daily_activity_cap", id="negative cap"),
    ],
)
def test_a_rules_file_it_would_not_understand_is_refused_naming_the_problem(
    document: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidRules, match=says):
        load_rules(document)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        pytest.param(a_document(daily_activity_caps=100), "unknown keys daily_activity_caps", id="misspelt daily cap"),
        pytest.param(a_document(levels={"threshold": [0, 10]}), "unknown keys levels.threshold", id="misspelt levels"),
    ],
)
def test_a_misspelt_setting_is_refused_rather_than_silently_ignored(document: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidRules, match=says):
        load_rules(document)


def a_badge(**changes: Any) -> dict[str, Any]:
    badge: dict[str, Any] = {"name": "sharer", "title": "Sharer", "description": "Shares", "rule": "shared"}
    badge["thresholds"] = [1, 5]
    badge.update(changes)
    return {key: value for key, value in badge.items() if value is not None}


@pytest.mark.parametrize(
    ("badge", "says"),
    [
        pytest.param(a_badge(thresholds=[0, 5]), "badge sharer: thresholds are whole numbers from 1", id="from 0"),
        pytest.param(a_badge(thresholds=[]), "badge sharer: thresholds", id="no thresholds"),
        pytest.param(a_badge(thresholds=["many"]), "badge sharer", id="not a number"),
        pytest.param(a_badge(title=None), "badge sharer", id="no title"),
        pytest.param(a_badge(streak=True), "badge sharer: count a rule's entries, or a streak", id="rule and streak"),
        pytest.param(a_badge(rule=None), "badge sharer: count a rule's entries, or a streak", id="neither"),
        pytest.param(a_badge(objects_with_atleast=3), "badge sharer: unknown keys objects_with_atleast", id="typo"),
    ],
)
def test_a_badge_it_would_not_understand_is_refused_naming_the_badge(badge: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidRules, match=says):
        load_badges([badge])


def test_badge_tiers_are_kept_in_rising_order() -> None:
    (badge,) = load_badges([a_badge(thresholds=[25, 10, 50])])
    assert badge.thresholds == (10, 25, 50)


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rules_file_awarding_an_event_the_service_never_receives_is_refused(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        'version = 1\n[[rules]]\nname = "flagged"\nevent = "resource.flagged"\nbeneficiary = "flagger_id"\n'
        'object = "flag_id"\npoints = 1\nreason = "Flagged"\n',
    )
    with pytest.raises(InvalidRules, match=r"resource\.flagged"):
        read_scoring(path, UTC_ZONE)


def test_a_badge_counting_a_rule_the_file_does_not_define_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8") + (
        '\n[[badges]]\nname = "x"\ntitle = "X"\ndescription = "X"\nrule = "no.such.rule"\nthresholds = [1]\n'
    )
    with pytest.raises(InvalidRules, match=r"no\.such\.rule"):
        read_scoring(write_rules(tmp_path, text), UTC_ZONE)


def test_a_rules_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "version = = 1\n")
    with pytest.raises(InvalidRules, match=r"rules\.toml"):
        read_scoring(path, UTC_ZONE)


# ---------------------------------------------------------------------------------------------------------------
# resource.shared: 5, ten counted a day


def test_a_share_earns_its_owner_5_on_the_owners_cohorts_the_challenge_and_tag_boards() -> None:
    entry = only(Worker()(shared("alice", cohorts=["7a"], tags=["astronomy"], challenge_id="c1", title="Pluto")))
    assert (entry.user_id, entry.points, entry.rule, entry.category) == (
        "alice",
        5,
        "resource.shared",
        Category.ACTIVITY,
    )
    assert entry.boards == ("global", "cohort:7a", "challenge:c1", "tag:astronomy")
    assert entry.reason == "Shared a resource: Pluto"


def test_ten_shares_a_day_are_counted_and_the_eleventh_is_recorded_at_0_naming_the_cap() -> None:
    work = Worker()
    entries = work(*(shared("alice", AN_HOUR_AGO + timedelta(minutes=minute)) for minute in range(11)))
    assert points_of(entries) == [5] * 10 + [0]
    assert "the limit of 10 a day is reached" in entries[-1].reason
    # Another learner's shares are counted apart, and the next day starts afresh.
    assert points_of(work(shared("bob"), shared("alice", AN_HOUR_AGO + timedelta(days=1)))) == [5, 5]


# ---------------------------------------------------------------------------------------------------------------
# resource.endorsed: 2 each, twenty per resource, on the owner's boards


def test_an_endorsement_earns_the_owner_2_on_the_owners_cohorts_boards_not_the_endorsers() -> None:
    work = Worker(cohorts={"alice": ("7a",), "bob": ("9z",)})
    entry = only(work(endorsed("alice", "bob", "r1", cohorts=["9z"], tags=["astronomy"])))
    assert (entry.user_id, entry.points, entry.object_id) == ("alice", 2, "r1")
    assert entry.boards == ("global", "cohort:7a", "tag:astronomy")


def test_endorsements_count_twenty_per_resource_and_the_twenty_first_is_recorded_at_0() -> None:
    work = Worker()
    entries = work(*(endorsed("alice", f"fan-{number}", "r1") for number in range(21)))
    assert points_of(entries) == [2] * 20 + [0]
    assert "the limit of 20 for this is reached" in entries[-1].reason
    assert points_of(work(endorsed("alice", "fan-0", "r2"))) == [2]


# ---------------------------------------------------------------------------------------------------------------
# Knowledge updates and their verifiers


def test_an_accepted_update_earns_its_proposer_15() -> None:
    entry = only(Worker()(decided(True, "carol", decided_by="owner")))
    assert (entry.user_id, entry.points, entry.rule) == ("carol", 15, "knowledge.updated")
    assert entry.adjustments == ()


def test_an_accepted_update_of_a_resource_flagged_outdated_earns_20() -> None:
    entry = only(Worker()(decided(True, "carol", decided_by="owner", flagged_outdated=True)))
    assert entry.points == 20
    assert entry.adjustments == ("flagged_outdated",)
    assert "it had been flagged outdated" in entry.reason


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "rejected"])
def test_verifiers_whose_verdict_the_peers_decision_matched_earn_3_each_on_their_own_boards(accepted: bool) -> None:
    work = Worker(cohorts={"dave": ("7a",), "erin": ("7b",)})
    entries = work(decided(accepted, "carol", verifiers=["dave", "erin"], decided_by="peers"))
    verifications = [entry for entry in entries if entry.user_id != "carol"]
    assert [(entry.user_id, entry.points) for entry in verifications] == [("dave", 3), ("erin", 3)]
    assert [entry.boards for entry in verifications] == [("global", "cohort:7a"), ("global", "cohort:7b")]
    # The proposer earns for an accepted update only.
    assert [entry.points for entry in entries if entry.user_id == "carol"] == ([15] if accepted else [])


@pytest.mark.parametrize("decided_by", ["owner", "teacher", "admin"])
@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "rejected"])
def test_verifiers_earn_nothing_when_someone_other_than_the_peers_decided(accepted: bool, decided_by: str) -> None:
    entries = Worker()(decided(accepted, "carol", verifiers=["dave", "erin"], decided_by=decided_by))
    assert {entry.user_id for entry in entries} <= {"carol"}


# ---------------------------------------------------------------------------------------------------------------
# Reviews


@pytest.mark.parametrize(
    ("late", "outside", "reciprocal", "points"),
    [
        (False, False, False, 10),
        (True, False, False, 5),
        (False, True, False, 12),
        (False, False, True, 5),
        # 10 x 0.5 x 1.2 = 6; 10 x 0.5 x 0.5 = 2.5, half up to 3.
        (True, True, False, 6),
        (True, False, True, 3),
        (False, True, True, 6),
        (True, True, True, 3),
    ],
)
def test_a_review_earns_10_halved_when_late_or_reciprocal_and_a_fifth_more_outside_own_cohorts(
    late: bool, outside: bool, reciprocal: bool, points: int
) -> None:
    entry = only(Worker()(reviewed("rita", late=late, outside_cohorts=outside, reciprocal=reciprocal)))
    assert (entry.user_id, entry.points, entry.rule) == ("rita", points, "review.submitted")
    notes = {"late": late, "outside your cohorts": outside, "you and the author review each other": reciprocal}
    for note, applies in notes.items():
        assert (note in entry.reason) == applies, entry.reason


def test_a_review_keeps_the_authors_cohorts_as_labels_and_lands_on_the_reviewers_boards() -> None:
    event_ = reviewed("rita", cohorts=["7a"], challenge_id="c1", tags=["biology"], author_cohorts=["8b", "8c"])
    entry = only(Worker()(event_))
    assert entry.labels == ("8b", "8c")
    assert entry.boards == ("global", "cohort:7a", "challenge:c1", "tag:biology")


@pytest.mark.parametrize(("helpfulness", "points"), [(5, [5]), (4, [5]), (3, []), (2, []), (1, [])])
def test_a_review_rated_helpful_4_or_5_earns_its_reviewer_5_and_lower_ratings_nothing(
    helpfulness: int, points: list[int]
) -> None:
    entries = Worker(cohorts={"rita": ("7a",)})(rated("rita", helpfulness))
    assert points_of(entries) == points
    assert all(entry.boards == ("global", "cohort:7a") for entry in entries)


def test_a_review_rated_helpful_twice_earns_once() -> None:
    # Peer review rates a review once; two racing requests could still announce two ratings of it.
    work = Worker()
    first, second = work(rated("rita", 5, review_id="r1"), rated("rita", 4, review_id="r1"))
    assert (first.points, second.points) == (5, 0)
    assert "limit of 1" in second.reason


@pytest.mark.parametrize(
    ("accuracy", "points"),
    [(1.0, 5), (0.9, 5), (0.8, 4), (0.7, 4), (0.5, 3), (0.3, 2), (0.2, 1), (0.1, 1), (0.05, 0), (0.0, 0)],
)
def test_a_graded_targets_reviewers_earn_5_times_their_accuracy_rounded_half_up(accuracy: float, points: int) -> None:
    entries = Worker()(graded("alice", grade=0.8, reviews=[review_of("rita", accuracy)]))
    (entry,) = [entry for entry in entries if entry.rule == "review.accurate"]
    assert (entry.user_id, entry.points) == ("rita", points)


def test_each_reviewer_of_a_graded_target_is_awarded_for_their_own_review() -> None:
    reviews = [review_of("rita", 1.0), review_of("sam", 0.6)]
    entries = Worker()(graded("alice", grade=0.8, reviews=reviews))
    accurate = [(entry.user_id, entry.points, entry.object_id) for entry in entries if entry.rule == "review.accurate"]
    assert accurate == [("rita", 5, reviews[0]["review_id"]), ("sam", 3, reviews[1]["review_id"])]


def test_a_review_graded_twice_earns_its_accuracy_once() -> None:
    # Peer review announces one grading per state of a target; should a target that lost its grade to a
    # racing write be graded again, its reviews (the same ones) earn nothing more.
    work = Worker()
    reviews = [review_of("rita", 1.0)]
    first, second = (graded("alice", grade=0.8, reviews=reviews), graded("alice", grade=0.8, reviews=reviews))
    accurate = [entry for entry in work(first, second) if entry.rule == "review.accurate"]
    assert [entry.points for entry in accurate] == [5, 0]
    assert "limit of 1" in accurate[1].reason


def test_reviewers_earn_nothing_for_accuracy_when_the_grade_was_overridden() -> None:
    entries = Worker()(graded("alice", grade=0.8, reviews=[review_of("rita", 1.0)], overridden=True))
    assert [entry.rule for entry in entries] == ["submission.graded"]


def test_a_review_suspected_of_collusion_is_recorded_at_0_saying_why() -> None:
    entries = Worker()(graded("alice", grade=0.8, reviews=[review_of("rita", 1.0, collusion_suspected=True)]))
    (entry,) = [entry for entry in entries if entry.rule == "review.accurate"]
    assert entry.points == 0
    assert "suspected of trading favourable reviews" in entry.reason


# ---------------------------------------------------------------------------------------------------------------
# Graded submissions: the challenge's points times the grade, replaced by a later grade


@pytest.mark.parametrize(
    ("points", "grade", "awarded"),
    [(40, 1.0, 40), (40, 0.5, 20), (45, 0.5, 23), (45, 0.7, 32), (90, 0.35, 32), (30, 0.0, 0), (None, 0.9, 0)],
)
def test_a_graded_submission_earns_its_author_the_challenges_points_times_the_grade_rounded_half_up(
    points: int | None, grade: float, awarded: int
) -> None:
    entry = only(Worker()(graded("alice", grade=grade, points=points)))
    assert (entry.user_id, entry.points, entry.rule, entry.category) == (
        "alice",
        awarded,
        "submission.graded",
        Category.CHALLENGE,
    )
    assert entry.reason == f"Your work was graded {round(grade * 100)}%"


def test_a_graded_submission_lands_on_the_authors_cohorts_the_challenge_and_its_tags() -> None:
    entry = only(Worker()(graded("alice", grade=1.0, cohorts=["7a"], challenge_id="c1", tags=["biology"])))
    assert entry.boards == ("global", "cohort:7a", "challenge:c1", "tag:biology")


def test_a_graded_revision_earns_its_reviewers_but_not_its_proposer_as_a_submission() -> None:
    entries = Worker()(graded("carol", grade=1.0, target_kind="revision", reviews=[review_of("rita", 1.0)]))
    assert [(entry.user_id, entry.rule) for entry in entries] == [("rita", "review.accurate")]


def test_a_later_grade_of_the_same_target_reverses_the_earlier_award_and_adds_its_own() -> None:
    work = Worker()
    first = only(work(graded("alice", grade=0.5, points=40, target_id="t1")))
    override = graded("alice", grade=0.75, points=40, target_id="t1", overridden=True, reviews=[review_of("rita", 1)])
    reversal, award = work(override)
    assert (reversal.key, reversal.reverses, reversal.points) == (reversal_key(first.key), first.key, -20)
    assert reversal.boards == first.boards
    assert reversal.reason.startswith("Replaced by a later decision")
    assert (award.key, award.points) == (ledger_key(override.id, "submission.graded", "alice"), 30)
    # A second override reverses only what stands: the first override's award.
    second_reversal, second_award = work(graded("alice", grade=1.0, points=40, target_id="t1", overridden=True))
    assert (second_reversal.reverses, second_reversal.points, second_award.points) == (award.key, -30, 40)


def test_a_grade_of_another_target_or_author_replaces_nothing() -> None:
    work = Worker()
    work(graded("alice", grade=0.5, points=40, target_id="t1"))
    assert points_of(work(graded("alice", grade=0.5, points=40, target_id="t2"))) == [20]
    assert points_of(work(graded("bob", grade=0.5, points=40, target_id="t1"))) == [20]


# ---------------------------------------------------------------------------------------------------------------
# The daily cap on activity points


def test_activity_points_stop_at_200_a_day_the_crossing_award_partly_with_a_reason_saying_so() -> None:
    work = Worker()
    moments = [AN_HOUR_AGO + timedelta(seconds=second) for second in range(30)]
    assert points_of(work(*(reviewed("rita", moment) for moment in moments[:19]))) == [10] * 19
    crossing = only(work(reviewed("rita", moments[19], outside_cohorts=True)))
    assert crossing.points == 10
    assert "2 above the daily limit of 200 activity points" in crossing.reason
    beyond = only(work(reviewed("rita", moments[20])))
    assert beyond.points == 0
    assert "the daily limit of 200 activity points is reached" in beyond.reason
    # Challenge points are not activity: still awarded in full.
    assert points_of(work(graded("rita", grade=1.0, points=50, at=moments[21]))) == [50]
    # Another learner, and the next day, are not capped.
    assert points_of(work(reviewed("sam", moments[22]), reviewed("rita", moments[23] + timedelta(days=1)))) == [10, 10]


def test_challenge_points_do_not_use_up_the_daily_cap_on_activity() -> None:
    work = Worker()
    work(graded("rita", grade=1.0, points=500))
    assert points_of(work(*(reviewed("rita") for _ in range(20)))) == [10] * 20


def test_the_daily_cap_counts_every_activity_rule_together() -> None:
    work = Worker()
    # 10 shares (50) + 10 accepted updates flagged outdated (200) cross 200 on the 8th update.
    work(*(shared("alice") for _ in range(10)))
    updates = work(*(decided(True, "alice", decided_by="owner", flagged_outdated=True) for _ in range(10)))
    assert points_of(updates) == [20] * 7 + [10, 0, 0]


# ---------------------------------------------------------------------------------------------------------------
# Days are the deployment's


def berlin(day: int, hour: int, minute: int) -> datetime:
    """Return a moment of January 2026 in Berlin (UTC+1): 23:30 local is 22:30 UTC, 00:30 local is 23:30 UTC."""
    return datetime(2026, 1, day, hour, minute, tzinfo=BERLIN)


def test_a_day_is_counted_in_the_deployments_time_zone() -> None:
    day_full = [shared("alice", berlin(15, 12, minute)) for minute in range(10)]
    late_evening, after_midnight = shared("alice", berlin(15, 23, 30)), shared("alice", berlin(16, 0, 30))
    # Both moments fall on 15 January in UTC...
    assert late_evening.occurred_at.astimezone(UTC).date() == after_midnight.occurred_at.astimezone(UTC).date()
    # ... but half past midnight is a new day in Berlin.
    in_berlin = Worker(zone=BERLIN)
    in_berlin(*day_full)
    assert points_of(in_berlin(late_evening, after_midnight)) == [0, 5]
    in_utc = Worker(zone=UTC_ZONE)
    in_utc(*day_full)
    assert points_of(in_utc(late_evening, after_midnight)) == [0, 0]


def test_the_worker_counts_a_day_in_the_deployments_time_zone_across_batches() -> None:
    fake = FakeLeaderboards(berlin(16, 9, 0), zone=BERLIN)

    def apply(*events: Event) -> None:
        awarding.apply_events([(one, load_payload(one.type, one.data)) for one in events], context=fake.context())

    apply(*(shared("alice", berlin(15, 12, minute)) for minute in range(10)))
    late_evening, after_midnight = shared("alice", berlin(15, 23, 30)), shared("alice", berlin(16, 0, 30))
    apply(late_evening)
    apply(after_midnight)
    assert fake.ledger.entries[ledger_key(late_evening.id, "resource.shared", "alice")].points == 0
    assert fake.ledger.entries[ledger_key(after_midnight.id, "resource.shared", "alice")].points == 5
    assert fake.boards.standings("global", Window.MONTH, "2026-01") == {"alice": 55}


# ---------------------------------------------------------------------------------------------------------------
# Determinism


def a_day_of_everything() -> list[Event]:
    reviews = [review_of("rita", 0.9), review_of("sam", 0.4, collusion_suspected=True)]
    return [
        *(shared("alice", AN_HOUR_AGO + timedelta(minutes=minute), cohorts=["7a"]) for minute in range(12)),
        *(endorsed("alice", f"fan-{number}", "r1") for number in range(3)),
        decided(True, "carol", verifiers=["dave"], flagged_outdated=True),
        decided(False, "carol", verifiers=["erin"]),
        *(reviewed("rita", late=number % 2 == 0, outside_cohorts=number % 3 == 0) for number in range(22)),
        rated("rita", 5),
        graded("alice", grade=0.6, points=45, target_id="t1", reviews=reviews),
        graded("alice", grade=0.9, points=45, target_id="t1", overridden=True),
    ]


def test_the_same_events_over_the_same_usage_give_the_same_entries_and_keys() -> None:
    events = a_day_of_everything()
    before = Worker()
    before(*(shared("alice") for _ in range(4)), *(reviewed("rita") for _ in range(5)))
    first = Worker(usage=copy.deepcopy(before.usage), entries=list(before.entries))(*events)
    second = Worker(usage=copy.deepcopy(before.usage), entries=list(before.entries))(*events)
    assert first == second
    assert len({entry.key for entry in first}) == len(first)
    # The usage before the events decides the caps: from nothing, more of the shares count.
    fresh = Worker()(*events)
    assert [entry.key for entry in fresh] == [entry.key for entry in first]
    assert sum(points_of(fresh)) > sum(points_of(first))


def test_events_worked_out_again_later_get_the_same_keys_and_points() -> None:
    events = a_day_of_everything()
    first = Worker()(*events)
    again = Worker(now=NOW + timedelta(days=3))(*events)
    assert [(entry.key, entry.points, entry.reason) for entry in again] == [
        (entry.key, entry.points, entry.reason) for entry in first
    ]
    assert {entry.created_at for entry in again} == {NOW + timedelta(days=3)}


# ---------------------------------------------------------------------------------------------------------------
# A challenge's own points, carried in its events


def test_a_challenges_own_points_for_a_rule_replace_the_rules_with_its_multipliers_still_applied() -> None:
    work = Worker()
    on_time = only(work(reviewed("rita", challenge_id="c1", rule_points=[{"rule": "review.submitted", "points": 20}])))
    late = only(
        work(reviewed("rita", challenge_id="c1", late=True, rule_points=[{"rule": "review.submitted", "points": 20}]))
    )
    assert (on_time.points, late.points) == (20, 10)
    assert "20 points in this challenge" in on_time.reason
    # Other rules keep their own points; a share of the challenge too.
    assert only(work(reviewed("rita", rule_points=[{"rule": "review.helpful", "points": 50}]))).points == 10
    assert (
        only(work(shared("sam", challenge_id="c1", rule_points=[{"rule": "resource.shared", "points": 8}]))).points == 8
    )


def test_a_challenges_points_for_accuracy_are_scaled_by_each_reviewers_accuracy() -> None:
    reviews = [review_of("rita", 1.0), review_of("rolf", 0.5)]
    entries = Worker()(
        graded("zoe", grade=0.8, reviews=reviews, rule_points=[{"rule": "review.accurate", "points": 10}])
    )
    accurate = {entry.user_id: entry.points for entry in entries if entry.rule == "review.accurate"}
    assert accurate == {"rita": 10, "rolf": 5}
    # The author's points come from the challenge's own points and grade, which no override touches.
    assert [entry.points for entry in entries if entry.rule == "submission.graded"] == [32]


def test_a_challenges_points_out_of_range_are_kept_to_it_and_unknown_rules_ignored() -> None:
    work = Worker()
    assert only(work(reviewed("rita", rule_points=[{"rule": "review.submitted", "points": 10_000}]))).points == 100
    assert only(work(reviewed("rita", rule_points=[{"rule": "review.submitted", "points": -5}]))).points == 0
    assert only(work(reviewed("rita", rule_points=[{"rule": "no.such.rule", "points": 50}]))).points == 10
