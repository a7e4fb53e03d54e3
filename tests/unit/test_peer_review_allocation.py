"""Assignment rules of peer review, as properties over generated classes (hypothesis) and a few examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.peer_review.domain.allocation import (
    Pairing,
    Person,
    Slot,
    allocate,
    from_another_cohort,
    next_target,
    pick_targets_for,
)

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def people_of(cohorts: Sequence[str]) -> list[Person]:
    return [Person(f"p{index}", frozenset({cohort})) for index, cohort in enumerate(cohorts)]


def fresh_slots(people: Sequence[Person], needed: int) -> list[Slot]:
    return [Slot(f"t-{person.user_id}", person, needed=needed) for person in people]


def reviewers_by_target(pairings: Sequence[Pairing]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pairing in pairings:
        found.setdefault(pairing.target_id, []).append(pairing.reviewer_id)
    return found


def loads(people: Sequence[Person], pairings: Sequence[Pairing]) -> Counter[str]:
    counted = Counter({person.user_id: 0 for person in people})
    counted.update(pairing.reviewer_id for pairing in pairings)
    return counted


def reciprocal_pairs(slots: Sequence[Slot], pairings: Sequence[Pairing]) -> set[frozenset[str]]:
    author = {slot.target_id: slot.author.user_id for slot in slots}
    reviews = {(pairing.reviewer_id, author[pairing.target_id]) for pairing in pairings}
    return {frozenset(pair) for pair in reviews if (pair[1], pair[0]) in reviews}


classes = st.tuples(
    st.lists(st.sampled_from(["7a", "7b", "7c"]), min_size=2, max_size=30),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=2**16),
)


@settings(max_examples=300, deadline=None)
@given(classes)
def test_a_fresh_allocation_gives_everyone_k_reviewers_never_themselves_and_spreads_the_load(
    case: tuple[list[str], int, int],
) -> None:
    cohorts, k, seed = case
    people = people_of(cohorts)
    slots = fresh_slots(people, k)
    pairings = allocate(slots, people, seed=seed)
    by_target = reviewers_by_target(pairings)
    for slot in slots:
        reviewers = by_target.get(slot.target_id, [])
        assert slot.author.user_id not in reviewers
        assert len(set(reviewers)) == len(reviewers)
        # Every target gets its k reviewers when the pool has k + 1 people.
        assert len(reviewers) == min(k, len(people) - 1)
    counted = loads(people, pairings)
    assert max(counted.values()) - min(counted.values()) <= 1


@settings(max_examples=300, deadline=None)
@given(classes)
def test_no_two_people_review_each_other_when_the_class_is_at_least_twice_the_reviews_plus_one(
    case: tuple[list[str], int, int],
) -> None:
    cohorts, k, seed = case
    people = people_of(cohorts)
    slots = fresh_slots(people, k)
    pairings = allocate(slots, people, seed=seed)
    if len(people) >= 2 * k + 1:
        assert reciprocal_pairs(slots, pairings) == set()


@st.composite
def balanced_classes(draw: st.DrawFn) -> tuple[list[str], int, int]:
    """Classes in which no cohort holds more than half the pool: everyone can be given another view."""
    size = draw(st.integers(min_value=2, max_value=30))
    names = draw(st.integers(min_value=2, max_value=4))
    cohorts = [f"c{index % names}" for index in range(size)]
    cohorts = draw(st.permutations(cohorts))
    return list(cohorts), draw(st.integers(min_value=1, max_value=5)), draw(st.integers(min_value=0, max_value=2**16))


@settings(max_examples=300, deadline=None)
@given(balanced_classes())
def test_every_target_gets_a_reviewer_of_another_cohort_when_no_cohort_is_more_than_half_the_class(
    case: tuple[list[str], int, int],
) -> None:
    cohorts, k, seed = case
    if max(Counter(cohorts).values()) > len(cohorts) / 2:
        return
    people = people_of(cohorts)
    slots = fresh_slots(people, k)
    by_target = reviewers_by_target(allocate(slots, people, seed=seed))
    person = {candidate.user_id: candidate for candidate in people}
    for slot in slots:
        assert any(from_another_cohort(person[user_id], slot.author) for user_id in by_target[slot.target_id])


@settings(max_examples=200, deadline=None)
@given(classes, st.data())
def test_allocating_over_existing_assignments_adds_only_what_is_missing(
    case: tuple[list[str], int, int], data: st.DataObject
) -> None:
    cohorts, k, seed = case
    people = people_of(cohorts)
    # Some reviewers are on some targets already (give-to-get before the close, or a run cut short).
    existing: dict[str, frozenset[str]] = {}
    for person in people:
        others = [other.user_id for other in people if other.user_id != person.user_id]
        taken = data.draw(st.lists(st.sampled_from(others), max_size=min(k, len(others)), unique=True))
        existing[f"t-{person.user_id}"] = frozenset(taken)
    slots = [
        Slot(
            f"t-{person.user_id}",
            person,
            needed=k - len(existing[f"t-{person.user_id}"]),
            reviewers=existing[f"t-{person.user_id}"],
        )
        for person in people
    ]
    prior = Counter(user_id for reviewers in existing.values() for user_id in reviewers)
    pairs = {(user_id, slot.author.user_id) for slot in slots for user_id in slot.reviewers}
    pairings = allocate(slots, people, load=prior, reviews_of=pairs, seed=seed)
    by_target = reviewers_by_target(pairings)
    for slot in slots:
        added = by_target.get(slot.target_id, [])
        assert not set(added) & slot.reviewers  # never the same reviewer twice on one target
        assert slot.author.user_id not in added
        assert len(added) == min(slot.needed, len(people) - 1 - len(slot.reviewers))
    # Running it again with what it added counted in finds nothing more to add.
    after = [
        Slot(
            slot.target_id,
            slot.author,
            needed=slot.needed - len(by_target.get(slot.target_id, [])),
            reviewers=slot.reviewers | frozenset(by_target.get(slot.target_id, [])),
        )
        for slot in slots
    ]
    assert allocate(after, people, seed=seed) == []


def test_the_same_inputs_and_seed_give_the_same_allocation_and_another_seed_another() -> None:
    people = people_of(["7a", "7b"] * 10)
    slots = fresh_slots(people, 3)
    first = allocate(slots, people, seed=7)
    assert allocate(slots, people, seed=7) == first
    assert allocate(slots, people, seed=8) != first


def test_people_who_declined_a_target_are_never_given_it() -> None:
    people = people_of(["7a", "7b", "7a", "7b"])
    slot = Slot("t-p0", people[0], needed=3, excluded=frozenset({"p1"}))
    assert {pairing.reviewer_id for pairing in allocate([slot], people, seed=1)} == {"p2", "p3"}


def test_a_target_whose_author_is_outside_the_pool_still_gets_reviewers() -> None:
    proposer = Person("outsider", frozenset({"7a"}))
    people = people_of(["7a", "7b", "7c"])
    pairings = allocate([Slot("revision-1", proposer, needed=2)], people, seed=3)
    assert len(pairings) == 2
    assert "outsider" not in {pairing.reviewer_id for pairing in pairings}


def test_an_arriving_author_reviews_the_neediest_earlier_work_first_and_prefers_bringing_another_view() -> None:
    alice, bob, carol = (
        Person("alice", frozenset({"7a"})),
        Person("bob", frozenset({"7b"})),
        Person("carol", frozenset({"7a"})),
    )
    dave = Person("dave", frozenset({"7b"}))
    slots = [
        Slot("t-alice", alice, needed=1, reviewers=frozenset({"x", "y"}), created_at=START),
        Slot("t-bob", bob, needed=3, created_at=START + timedelta(minutes=1)),
        Slot("t-carol", carol, needed=3, created_at=START + timedelta(minutes=2)),
        Slot("t-dave", dave, needed=3, created_at=START + timedelta(minutes=3)),
    ]
    chosen = pick_targets_for(dave, slots, 2)
    # Neediest first; among equals, where dave (7b) brings another view (carol, 7a) before bob (7b).
    assert [slot.target_id for slot in chosen] == ["t-carol", "t-bob"]
    assert pick_targets_for(dave, [slots[3]], 2) == []


def test_the_pull_queue_hands_out_the_oldest_eligible_target_with_the_fewest_reviews() -> None:
    alice, bob = Person("alice"), Person("bob")
    older = Slot("older", alice, needed=1, reviewers=frozenset({"x"}), created_at=START)
    newer = Slot("newer", bob, needed=3, created_at=START + timedelta(hours=1))
    oldest_full = Slot("oldest", bob, needed=0, reviewers=frozenset({"x", "y"}), created_at=START - timedelta(hours=1))
    assert next_target(Person("carol"), [older, newer, oldest_full]) == newer
    assert next_target(Person("carol"), [older, oldest_full]) == older  # a full target is not handed out
    assert next_target(Person("bob"), [newer]) is None  # never one's own
    declined = Slot("declined", alice, needed=2, excluded=frozenset({"carol"}))
    assert next_target(Person("carol"), [declined]) is None
