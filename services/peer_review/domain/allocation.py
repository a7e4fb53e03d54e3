"""Pure rules of review assignment: who reviews which target, fairly, deterministically given a seed.

The rules, strongest first:
1. Nobody reviews their own work, nor the same target twice (not even after declining it).
2. Every target gets the reviewers it still needs, as long as enough eligible people exist.
3. Balanced load: nobody gets more than one review above anyone else, where the pool allows.
4. No reciprocal pairs (A reviews B while B reviews A) where they can be avoided.
5. Diversity of opinion: at least one reviewer from another cohort than the author, where one can be
   given without breaking a rule above.

`allocate` assigns everything still short at once (when submissions close, or when a teacher asks);
`pick_targets_for` serves give-to-get (an arriving author reviews earlier work still short of reviewers);
`next_target` serves the pull queue. All three work from the assignments that exist already, which they
never change, so running them again after a crash adds only what is missing.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# How many candidates of the lowest load a pick looks at before settling for the best seen: enough for
# every class-sized pool to be searched whole, small enough that 10,000 targets allocate in about a second.
CANDIDATES_SCANNED = 48
# Bounds on the repair passes, so a pathological pool cannot make allocation loop for long.
REPAIR_ROUNDS = 4
SWAP_TAKERS_SCANNED = 400


@dataclass(frozen=True)
class Person:
    """Someone who may review: their id and cohorts."""

    user_id: str
    cohorts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Slot:
    """A target that wants reviewers, and who is on it already (or may never be)."""

    target_id: str
    author: Person
    needed: int
    # Reviewers it has already (any state but declined); never assigned again, never taken away here.
    reviewers: frozenset[str] = frozenset()
    # People who may never review it (they declined it, or their claim on it expired).
    excluded: frozenset[str] = frozenset()
    # Whether one of its existing reviewers is from another cohort than the author.
    diverse: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class Pairing:
    """One new assignment: this reviewer reviews this target."""

    target_id: str
    reviewer_id: str


def from_another_cohort(reviewer: Person, author: Person) -> bool:
    """Return whether a reviewer shares no cohort with the author (both known): a different view."""
    return bool(reviewer.cohorts) and bool(author.cohorts) and reviewer.cohorts.isdisjoint(author.cohorts)


@dataclass
class _Board:
    """The allocation in progress: loads, who reviews whose work, and each target's new reviewers."""

    people: dict[str, Person]
    load: dict[str, int]
    # (reviewer, author) pairs that exist already: the reviewer reviews some target of that author.
    fixed_pairs: frozenset[tuple[str, str]]
    slots: dict[str, Slot]
    chosen: dict[str, list[str]] = field(default_factory=dict)
    by_reviewer: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    new_pairs: Counter[tuple[str, str]] = field(default_factory=Counter)

    def may_review(self, user_id: str, slot: Slot) -> bool:
        return (
            user_id != slot.author.user_id
            and user_id not in slot.excluded
            and user_id not in slot.reviewers
            and slot.target_id not in self.by_reviewer[user_id]
        )

    def reviews(self, reviewer_id: str, author_id: str) -> bool:
        """Return whether the reviewer reviews some target of the author (existing or new)."""
        pair = (reviewer_id, author_id)
        return pair in self.fixed_pairs or self.new_pairs[pair] > 0

    def reciprocal(self, user_id: str, slot: Slot) -> bool:
        """Return whether `user_id` reviewing this slot would make a pair reviewing each other."""
        return self.reviews(slot.author.user_id, user_id)

    def diverse(self, slot: Slot) -> bool:
        author = slot.author
        return slot.diverse or any(
            from_another_cohort(self.people[user_id], author) for user_id in self.chosen.get(slot.target_id, ())
        )

    def gives_diversity(self, user_id: str, slot: Slot) -> bool:
        return not self.diverse(slot) and from_another_cohort(self.people[user_id], slot.author)

    def assign(self, user_id: str, slot: Slot) -> None:
        self.chosen.setdefault(slot.target_id, []).append(user_id)
        self.by_reviewer[user_id].add(slot.target_id)
        self.load[user_id] += 1
        self.new_pairs[(user_id, slot.author.user_id)] += 1

    def unassign(self, user_id: str, slot: Slot) -> None:
        self.chosen[slot.target_id].remove(user_id)
        self.by_reviewer[user_id].discard(slot.target_id)
        self.load[user_id] -= 1
        self.new_pairs[(user_id, slot.author.user_id)] -= 1

    def slots_of(self, user_id: str) -> list[Slot]:
        """Return the slots this person was newly given, in a fixed order."""
        return [self.slots[target_id] for target_id in sorted(self.by_reviewer[user_id])]


def allocate(
    slots: Sequence[Slot],
    pool: Iterable[Person],
    *,
    load: Mapping[str, int] | None = None,
    reviews_of: Iterable[tuple[str, str]] = (),
    seed: int = 0,
) -> list[Pairing]:
    """Return new assignments giving every slot the reviewers it needs, by the rules of this module.

    `load` counts each person's existing reviews (of this challenge); `reviews_of` lists who already
    reviews whose work, as (reviewer, author) pairs. The same inputs and seed give the same answer.
    """
    people = {person.user_id: person for person in pool}
    board = _Board(
        people=people,
        load={user_id: (load or {}).get(user_id, 0) for user_id in people},
        fixed_pairs=frozenset(reviews_of),
        slots={slot.target_id: slot for slot in slots},
    )
    rng = random.Random(seed)  # noqa: S311 - a reproducible shuffle, not a secret
    circle = _circle(people.values(), rng)
    position = {user_id: index for index, user_id in enumerate(circle)}
    # Each person's fair share: nobody goes above it while someone eligible is below it.
    total = sum(board.load.values()) + sum(slot.needed for slot in slots)
    cap = -(-total // len(people)) if people else 0
    buckets = _Buckets(board.load, circle, rng)
    pending = sorted(
        (slot for slot in slots if slot.needed > 0),
        key=lambda slot: (position.get(slot.author.user_id, len(circle)), slot.target_id),
    )
    for slot in pending:
        for _ in range(slot.needed):
            user_id = _walk(board, slot, circle, position, cap) or buckets.pick(board, slot)
            if user_id is None:
                break
            board.assign(user_id, slot)
            buckets.moved_up(user_id)
    for _round in range(REPAIR_ROUNDS):
        changed = _balance(board, position) + _untangle(board, circle) + _diversify(board, circle)
        if not changed:
            break
    return [
        Pairing(target_id, user_id)
        for target_id in (slot.target_id for slot in slots)
        for user_id in board.chosen.get(target_id, ())
    ]


def _circle(people: Iterable[Person], rng: random.Random) -> list[str]:
    """Return everyone in a seeded circle in which neighbours are of different cohorts wherever possible.

    Reviewing the next people round such a circle is the ideal allocation: nobody reviews themselves,
    everyone reviews as many as they are reviewed by, nobody reviews their reviewers while the circle is
    at least twice as long as the reviews each one needs, and the next person is of another cohort
    whenever no cohort holds more than half the pool. The people, largest cohort first, fill every other
    place round the circle and then the places between.
    """
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for person in people:
        groups[tuple(sorted(person.cohorts))].append(person.user_id)
    keys = sorted(groups)
    rng.shuffle(keys)
    ordered: list[str] = []
    for key in sorted(keys, key=lambda key: -len(groups[key])):
        members = sorted(groups[key])
        rng.shuffle(members)
        ordered.extend(members)
    places = [*range(0, len(ordered), 2), *range(1, len(ordered), 2)]
    circle = [""] * len(ordered)
    for place, user_id in zip(places, ordered, strict=True):
        circle[place] = user_id
    return circle


def _walk(board: _Board, slot: Slot, circle: Sequence[str], position: Mapping[str, int], cap: int) -> str | None:
    """Return the best eligible person below their fair share among the next ones round the circle."""
    if not circle:
        return None
    start = position.get(slot.author.user_id)
    if start is None:
        # An author outside the pool (say, a revision's proposer): start from a place of the target's own.
        start = sum(map(ord, slot.target_id)) % len(circle)
    needs_view = not board.diverse(slot)
    best: tuple[bool, bool, int] | None = None
    best_user: str | None = None
    for step in range(1, min(len(circle), CANDIDATES_SCANNED) + 1):
        user_id = circle[(start + step) % len(circle)]
        if board.load[user_id] >= cap or not board.may_review(user_id, slot):
            continue
        key = (
            board.reciprocal(user_id, slot),
            needs_view and not from_another_cohort(board.people[user_id], slot.author),
            step,
        )
        if best is None or key < best:
            best, best_user = key, user_id
            if not key[0] and not key[1]:
                break
    return best_user


class _Buckets:
    """People by load, each load's people in a seeded random order, for picks in O(scan) time."""

    def __init__(self, load: Mapping[str, int], order: Sequence[str], rng: random.Random) -> None:
        self._load = load
        self._rng = rng
        self._members: dict[int, list[str]] = defaultdict(list)
        self._position: dict[str, int] = {}
        for user_id in order:
            self._add(user_id)

    def _add(self, user_id: str) -> None:
        members = self._members[self._load[user_id]]
        members.append(user_id)
        # Swap into a random place so each load's order stays shuffled as people move up.
        other_index = self._rng.randrange(len(members))
        members[-1], members[other_index] = members[other_index], members[-1]
        self._position[members[-1]] = len(members) - 1
        self._position[members[other_index]] = other_index

    def _remove(self, user_id: str, load: int) -> None:
        members = self._members[load]
        index = self._position.pop(user_id)
        last = members.pop()
        if last != user_id:
            members[index] = last
            self._position[last] = index
        if not members:
            del self._members[load]

    def moved_up(self, user_id: str) -> None:
        """Note that a person's load went up by one."""
        self._remove(user_id, self._load[user_id] - 1)
        self._add(user_id)

    def pick(self, board: _Board, slot: Slot) -> str | None:
        """Return the best eligible person of the lowest load that has one, or None if nobody may review."""
        needs_view = not board.diverse(slot)
        author = slot.author
        for level in sorted(self._members):
            best: tuple[bool, bool] | None = None
            best_user: str | None = None
            scanned = 0
            for user_id in self._members[level]:
                if not board.may_review(user_id, slot):
                    continue
                # Lower is better: not reciprocal first, then bringing the view the target lacks.
                key = (
                    board.reciprocal(user_id, slot),
                    needs_view and not from_another_cohort(board.people[user_id], author),
                )
                if best is None or key < best:
                    best, best_user = key, user_id
                    if key == (False, False):
                        break
                scanned += 1
                if scanned >= CANDIDATES_SCANNED:
                    break
            if best_user is not None:
                return best_user
        return None


def _balance(board: _Board, rank: Mapping[str, int]) -> int:
    """Move new reviews from the busiest to the least busy where allowed; return how many moved."""
    moved = 0
    while True:
        low = min(board.load.values(), default=0)
        busiest = sorted((user_id for user_id, load in board.load.items() if load >= low + 2), key=rank.__getitem__)
        if not busiest:
            return moved
        idle = sorted((user_id for user_id, load in board.load.items() if load == low), key=rank.__getitem__)
        step = _find_move(board, busiest, idle)
        if step is None:
            return moved
        slot, giver, taker = step
        board.unassign(giver, slot)
        board.assign(taker, slot)
        moved += 1


def _find_move(board: _Board, givers: Sequence[str], takers: Sequence[str]) -> tuple[Slot, str, str] | None:
    fallback: tuple[Slot, str, str] | None = None
    for giver in givers:
        for slot in board.slots_of(giver):
            for taker in takers:
                if not board.may_review(taker, slot):
                    continue
                keeps_view = board.diverse(slot) is False or _still_diverse_without(board, slot, giver, taker)
                if not board.reciprocal(taker, slot) and keeps_view:
                    return slot, giver, taker
                fallback = fallback or (slot, giver, taker)
    return fallback


def _still_diverse_without(board: _Board, slot: Slot, leaving: str, arriving: str) -> bool:
    if slot.diverse:
        return True
    author = slot.author
    remaining = [user_id for user_id in board.chosen.get(slot.target_id, ()) if user_id != leaving]
    return any(from_another_cohort(board.people[user_id], author) for user_id in [*remaining, arriving])


def _swap_candidates(
    board: _Board, slot: Slot, leaving: str, order: Sequence[str], wanted: Callable[[str], bool] = lambda _: True
) -> Iterator[tuple[str, Slot]]:
    """Yield (taker, other slot) so that taker takes `leaving`'s place on `slot` and `leaving` takes taker's.

    Takers come in the seeded order, and at most SWAP_TAKERS_SCANNED of them are looked at.
    """
    looked_at = 0
    for taker in order:
        if not wanted(taker) or not board.may_review(taker, slot) or board.load[taker] == 0:
            continue
        looked_at += 1
        if looked_at > SWAP_TAKERS_SCANNED:
            return
        for other in board.slots_of(taker):
            if other.target_id != slot.target_id and board.may_review(leaving, other):
                yield taker, other


def _exchange(board: _Board, slot: Slot, leaving: str, taker: str, other: Slot) -> None:
    board.unassign(leaving, slot)
    board.unassign(taker, other)
    board.assign(taker, slot)
    board.assign(leaving, other)


def _reciprocal_pairs(board: _Board) -> list[tuple[Slot, str]]:
    return [
        (slot, user_id)
        for target_id, chosen in board.chosen.items()
        for slot in [board.slots[target_id]]
        for user_id in chosen
        if board.reciprocal(user_id, slot)
    ]


def _untangle(board: _Board, order: Sequence[str]) -> int:
    """Break reciprocal pairs by exchanging reviews between two reviewers, loads unchanged; return how many."""
    changed = 0
    for slot, user_id in _reciprocal_pairs(board):
        if user_id not in board.chosen.get(slot.target_id, ()) or not board.reciprocal(user_id, slot):
            continue
        for taker, other in _swap_candidates(board, slot, user_id, order):
            if board.reciprocal(taker, slot) or board.reviews(other.author.user_id, user_id):
                continue
            lost_view = board.diverse(other) and not _still_diverse_without(board, other, taker, user_id)
            if lost_view:
                continue
            _exchange(board, slot, user_id, taker, other)
            changed += 1
            break
    return changed


def _diversify(board: _Board, order: Sequence[str]) -> int:
    """Give a target without a different view a reviewer from another cohort by an exchange; return how many."""
    changed = 0
    for target_id in list(board.chosen):
        slot = board.slots[target_id]
        if board.diverse(slot) or not board.chosen[target_id]:
            continue

        def another_view(user_id: str, author: Person = slot.author) -> bool:
            return from_another_cohort(board.people[user_id], author)

        done = False
        for leaving in list(board.chosen[target_id]):
            for taker, other in _swap_candidates(board, slot, leaving, order, another_view):
                if board.reciprocal(taker, slot) or board.reviews(other.author.user_id, leaving):
                    continue
                if board.diverse(other) and not _still_diverse_without(board, other, taker, leaving):
                    continue
                _exchange(board, slot, leaving, taker, other)
                changed += 1
                done = True
                break
            if done:
                break
    return changed


def pick_targets_for(arriving: Person, slots: Sequence[Slot], count: int) -> list[Slot]:
    """Return up to `count` earlier targets an arriving author reviews (give-to-get).

    The neediest first (most reviewers still missing), those a different view would help next, then the
    oldest; never the author's own, never one they are on or may not review.
    """
    eligible = [
        slot
        for slot in slots
        if slot.needed > 0
        and arriving.user_id != slot.author.user_id
        and arriving.user_id not in slot.reviewers
        and arriving.user_id not in slot.excluded
    ]

    def priority(slot: Slot) -> tuple[int, int, float, str]:
        helps_view = not slot.diverse and from_another_cohort(arriving, slot.author)
        created = slot.created_at.timestamp() if slot.created_at else 0.0
        return (-slot.needed, int(not helps_view), created, slot.target_id)

    return sorted(eligible, key=priority)[:count]


def next_target(reviewer: Person, slots: Sequence[Slot]) -> Slot | None:
    """Return the target the pull queue hands this reviewer: of those still short, the fewest reviews, then oldest."""
    eligible = [
        slot
        for slot in slots
        if slot.needed > 0
        and reviewer.user_id != slot.author.user_id
        and reviewer.user_id not in slot.reviewers
        and reviewer.user_id not in slot.excluded
    ]
    if not eligible:
        return None

    def priority(slot: Slot) -> tuple[int, float, str]:
        created = slot.created_at.timestamp() if slot.created_at else 0.0
        return (len(slot.reviewers), created, slot.target_id)

    return min(eligible, key=priority)
