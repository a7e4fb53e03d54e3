"""Pure rules of reciprocity and collusion: who reviews each other, and who is generous to each other.

A review is *generous* when its normalised score (its total over the rubric's total) is above the target's
consensus grade by more than a margin. Two people who review each other's work and are generous to each
other, or three who are generous round a ring, are suspected of trading favourable reviews. Teachers see the
suspects; the reviews involved are marked in `target.graded` so the leaderboards can discount them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# A fifth of the scale above the consensus: more than reviewers' ordinary disagreement (about a tenth).
GENEROSITY_MARGIN = 0.2


@dataclass(frozen=True)
class ReviewEdge:
    """One graded review: who reviewed whose work, and how far above the consensus they scored it."""

    reviewer_id: str
    author_id: str
    review_id: str
    # The review's normalised score minus the target's grade (positive: more generous than the peers).
    generosity: float


@dataclass(frozen=True)
class Suspicion:
    """People suspected of trading favourable reviews, and the reviews concerned."""

    people: tuple[str, ...]
    review_ids: tuple[str, ...]


def reciprocal(reviewer_id: str, author_id: str, pairs: Iterable[tuple[str, str]]) -> bool:
    """Return whether the author reviews the reviewer's work too, given (reviewer, author) pairs."""
    return (author_id, reviewer_id) in set(pairs)


def suspicions(edges: Iterable[ReviewEdge], margin: float = GENEROSITY_MARGIN) -> list[Suspicion]:
    """Return the pairs and three-person rings whose members were generous to one another, each once."""
    generous: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for edge in edges:
        if edge.generosity > margin and edge.reviewer_id != edge.author_id:
            generous[edge.reviewer_id][edge.author_id].append(edge.review_id)
    found: dict[frozenset[str], Suspicion] = {}
    for first, authors in generous.items():
        for second in authors:
            if first in generous.get(second, {}):
                members = frozenset({first, second})
                if members not in found:
                    reviews = (*authors[second], *generous[second][first])
                    found[members] = Suspicion(tuple(sorted(members)), tuple(sorted(reviews)))
            for third in generous.get(second, {}):
                if third not in (first, second) and first in generous.get(third, {}):
                    members = frozenset({first, second, third})
                    if members not in found:
                        reviews = (*authors[second], *generous[second][third], *generous[third][first])
                        found[members] = Suspicion(tuple(sorted(members)), tuple(sorted(reviews)))
    return sorted(found.values(), key=lambda suspicion: (len(suspicion.people), suspicion.people))
