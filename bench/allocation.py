"""Allocation at scale: 10,000 submissions x 3 reviewers, timed against a bare baseline, with its rules checked.

The baseline is the least any allocation does: each of n people reviews the next k round a shuffled
circle, no checks. The ratio says what the rules (balance, no reciprocity, another cohort's view, what
exists already) cost on top. The output's rules are checked and printed, so a fast but wrong allocation
shows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.peer_review.domain.allocation import Pairing, Person, Slot, allocate, from_another_cohort

T = TypeVar("T")


def _class(size: int, cohorts: int, seed: int) -> list[Person]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible class, not a secret
    return [Person(f"learner-{index}", frozenset({f"cohort-{rng.randrange(cohorts)}"})) for index in range(size)]


def _baseline(people: Sequence[Person], reviewers: int, seed: int) -> list[Pairing]:
    order = [person.user_id for person in people]
    random.Random(seed).shuffle(order)  # noqa: S311
    size = len(order)
    return [
        Pairing(f"t-{order[index]}", order[(index + step) % size])
        for index in range(size)
        for step in range(1, reviewers + 1)
    ]


def _timed(function: Callable[[], T], repeats: int) -> tuple[float, T]:
    times: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def check(
    people: Sequence[Person], slots: Sequence[Slot], pairings: Sequence[Pairing], reviewers: int
) -> dict[str, object]:
    """Return the rules' figures over an allocation's output."""
    author = {slot.target_id: slot.author for slot in slots}
    person = {candidate.user_id: candidate for candidate in people}
    by_target: dict[str, list[str]] = {}
    for pairing in pairings:
        by_target.setdefault(pairing.target_id, []).append(pairing.reviewer_id)
    load = Counter({candidate.user_id: 0 for candidate in people})
    load.update(pairing.reviewer_id for pairing in pairings)
    reviews = {(pairing.reviewer_id, author[pairing.target_id].user_id) for pairing in pairings}
    return {
        "targets with k reviewers": sum(
            1 for slot in slots if len(set(by_target.get(slot.target_id, []))) == reviewers
        ),
        "self-reviews": sum(1 for pairing in pairings if pairing.reviewer_id == author[pairing.target_id].user_id),
        "repeated reviewers": sum(len(names) - len(set(names)) for names in by_target.values()),
        "load spread": max(load.values()) - min(load.values()),
        "reciprocal pairs": sum(1 for pair in reviews if (pair[1], pair[0]) in reviews) // 2,
        "targets with another cohort's view": sum(
            1
            for slot in slots
            if any(from_another_cohort(person[user_id], slot.author) for user_id in by_target.get(slot.target_id, []))
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the allocation benchmark and print its figures; exit 1 if a rule does not hold."""
    parser = argparse.ArgumentParser(prog="python -m bench.allocation", description=__doc__)
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--reviewers", type=int, default=3)
    parser.add_argument("--cohorts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args(argv)
    people = _class(arguments.submissions, arguments.cohorts, seed=2026)
    slots = [Slot(f"t-{person.user_id}", person, needed=arguments.reviewers) for person in people]
    baseline_time, _ = _timed(lambda: _baseline(people, arguments.reviewers, 1), arguments.repeats)
    allocation_time, pairings = _timed(lambda: allocate(slots, people, seed=1), arguments.repeats)
    figures = check(people, slots, pairings, arguments.reviewers)
    print(f"allocation of {arguments.submissions:,} submissions x {arguments.reviewers} reviewers")
    print(f"  allocate          {allocation_time:8.3f} s  (median of {arguments.repeats})")
    print(f"  bare circle       {baseline_time:8.3f} s")
    print(f"  ratio             {allocation_time / baseline_time:8.1f} x the bare circle")
    for name, value in figures.items():
        print(f"  {name:<36}{value}")
    holds = (
        figures["targets with k reviewers"] == arguments.submissions
        and figures["self-reviews"] == 0
        and figures["repeated reviewers"] == 0
        and isinstance(figures["load spread"], int)
        and figures["load spread"] <= 1
        and figures["reciprocal pairs"] == 0
    )
    print(f"  rules hold        {'yes' if holds else 'NO'}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
