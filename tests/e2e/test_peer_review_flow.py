"""Peer review with every service as real processes: a class reviewing each other, peers verifying a knowledge
update, and an allocation killed halfway through.

Every step is an HTTP call a teacher or a learner would make; events travel between the services through
their Redis queues, so every wait for another service is bounded and reports the workers' logs on failure.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from services.peer_review.usecases.assignments import ASSIGNMENT_BATCH
from tests.e2e import conftest
from tests.e2e.conftest import Stack
from tests.factories import bearer, challenge_body, resource_body, revision_body, submission_body, unique

pytestmark = pytest.mark.e2e

T = TypeVar("T")

RUBRIC: list[dict[str, Any]] = [
    {"criterion": "Accuracy", "max_score": 5, "description": "The facts are right"},
    {"criterion": "Clarity", "max_score": 5, "description": "A 10-year-old can follow it"},
]
RUBRIC_TOTAL = sum(criterion["max_score"] for criterion in RUBRIC)
COMMENT = "Correct and clear; one more example of where the sugar goes would help."
ACTIVE = ("assigned", "submitted")
LOGGED = ("peer_review-worker", "challenges-worker", "peer_review-api", "challenges-api")


@dataclass(frozen=True)
class Learner:
    """A learner of one cohort, as their bearer token presents them."""

    user_id: str
    cohort: str

    @property
    def headers(self) -> dict[str, str]:
        """Return the learner's Authorization header."""
        return bearer(self.user_id, "learner", cohorts=(self.cohort,))


def learners_of_two_cohorts(count: int, prefix: str = "learner") -> list[Learner]:
    """Return `count` new learners, alternately of cohorts c1 and c2."""
    return [Learner(unique(prefix), ("c1", "c2")[index % 2]) for index in range(count)]


def log_tails(stack: Stack) -> str:
    """Return the last lines of the logs that explain a failed wait here."""
    return conftest.log_tails(stack, LOGGED, 40)


def until(stack: Stack, observe: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 30.0) -> T:
    """Return the first observation that is done (see conftest.until), with this module's logs on failure."""
    return conftest.until(stack, observe, done, timeout=timeout, logs=LOGGED)


def call(method: str, url: str, headers: dict[str, str], expected: int, **kwargs: Any) -> Any:
    """Send a request, assert its status and return its JSON body (None when it has none)."""
    response = requests.request(method, url, headers=headers, timeout=10, **kwargs)
    assert response.status_code == expected, f"{method} {url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def teacher(teacher_id: str) -> dict[str, str]:
    """Return a teacher's Authorization header."""
    return bearer(teacher_id, "teacher")


def open_challenge(stack: Stack, teacher_id: str, **overrides: Any) -> str:
    """Create and publish a submission challenge as the teacher; return its id."""
    created = call(
        "POST", stack.url("challenges", "/challenges"), teacher(teacher_id), 201, json=challenge_body(**overrides)
    )
    call("POST", stack.url("challenges", f"/challenges/{created['id']}/publish"), teacher(teacher_id), 200)
    challenge_id: str = created["id"]
    return challenge_id


def content_of(learner: Learner) -> str:
    """Return the work a learner submits: their own, so reviewers can be seen to read the right one."""
    return f"Plants turn light, water and carbon dioxide into sugar; told by {learner.user_id}."


def submit(stack: Stack, challenge_id: str, learner: Learner) -> str:
    """Submit the learner's work (again, after a withdrawal) through the challenges API; return its id."""
    body = submission_body(content=content_of(learner))
    url = stack.url("challenges", f"/challenges/{challenge_id}/submissions")
    submission_id: str = call("POST", url, learner.headers, 201, json=body)["id"]
    return submission_id


def allocation(stack: Stack, teacher_id: str, challenge_id: str) -> list[dict[str, Any]]:
    """Return the teacher's view of a challenge's allocation: every target with its assignments."""
    url = stack.url("peer_review", "/allocations")
    page = call("GET", url, teacher(teacher_id), 200, params={"challenge_id": challenge_id, "limit": 100})
    assert page["total"] <= 100, "more targets than one page holds"
    items: list[dict[str, Any]] = page["items"]
    return items


def active_reviewers(item: dict[str, Any]) -> list[str]:
    """Return the reviewers of a target's active assignments (open or reviewed)."""
    return [assignment["reviewer_id"] for assignment in item["assignments"] if assignment["status"] in ACTIVE]


def assignments_of(stack: Stack, learner: Learner, **params: str) -> list[dict[str, Any]]:
    """Return the learner's own assignments, as `GET /assignments` lists them."""
    page = call("GET", stack.url("peer_review", "/assignments"), learner.headers, 200, params={"limit": 100, **params})
    items: list[dict[str, Any]] = page["items"]
    return items


def pull(stack: Stack, learner: Learner, **fields: str) -> requests.Response:
    """Ask the pull queue for something to review."""
    return requests.post(
        stack.url("peer_review", "/assignments/next"), json=fields, headers=learner.headers, timeout=10
    )


def read_submission(stack: Stack, headers: dict[str, str], submission_id: str) -> requests.Response:
    """Read a submission at the challenges service."""
    return requests.get(stack.url("challenges", f"/submissions/{submission_id}"), headers=headers, timeout=10)


def readable(stack: Stack, learner: Learner, submission_id: str) -> dict[str, Any]:
    """Wait until the learner may read the submission at the challenges service (access comes by event)."""
    seen = until(
        stack,
        lambda: read_submission(stack, learner.headers, submission_id),
        lambda response: response.status_code == 200,
    )
    body: dict[str, Any] = seen.json()
    return body


def unreadable(stack: Stack, learner: Learner, submission_id: str) -> None:
    """Wait until the learner may no longer read the submission (revoked by event)."""
    until(
        stack, lambda: read_submission(stack, learner.headers, submission_id).status_code, lambda status: status == 404
    )


def review(stack: Stack, learner: Learner, assignment_id: str, expected: int = 201, **fields: Any) -> Any:
    """Review an assignment as the learner."""
    url = stack.url("peer_review", f"/assignments/{assignment_id}/review")
    return call("POST", url, learner.headers, expected, json={"comment": COMMENT, **fields})


def graded_at_challenges(stack: Stack, author: Learner, submission_id: str) -> dict[str, Any]:
    """Wait until the author reads the submission as graded at the challenges service (`target.graded`)."""
    seen = until(
        stack,
        lambda: read_submission(stack, author.headers, submission_id).json(),
        lambda body: body.get("status") == "graded",
    )
    return seen


def resource_at(stack: Stack, resource_id: str, revision_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a resource and one of its revisions as a reader sees them at the challenges service."""
    reader = bearer(unique("reader"))
    resource = call("GET", stack.url("challenges", f"/resources/{resource_id}"), reader, 200)
    revision = call("GET", stack.url("challenges", f"/resources/{resource_id}/revisions/{revision_id}"), reader, 200)
    return resource, revision


def propose_revision(stack: Stack, tag: str) -> tuple[str, str, dict[str, Any]]:
    """Share a resource with this tag as one learner and propose a revision as another; return both ids and it."""
    owner, proposer = Learner(unique("owner"), "c1"), Learner(unique("proposer"), "c2")
    shared = call("POST", stack.url("challenges", "/resources"), owner.headers, 201, json=resource_body(tags=[tag]))
    proposal = revision_body()
    url = stack.url("challenges", f"/resources/{shared['id']}/revisions")
    proposed = call("POST", url, proposer.headers, 201, json=proposal)
    assert proposed["status"] == "pending"
    return shared["id"], proposed["id"], proposal


def verified_and_current(
    stack: Stack, resource_id: str, revision_id: str, proposal: dict[str, Any], verifiers: list[Learner]
) -> None:
    """Assert the revision became the resource's current version, decided by these verifiers."""
    # The resource takes the revision in first and the revision is marked decided right after: wait for both.
    resource, revision = until(
        stack,
        lambda: resource_at(stack, resource_id, revision_id),
        lambda seen: seen[0]["version"] == 2 and seen[1]["status"] != "pending",
    )
    assert resource["summary"] == proposal["summary"]
    assert (revision["status"], revision["version"]) == ("accepted", 2)
    assert revision["decision"]["decided_by"] == "peers"
    assert sorted(revision["decision"]["verifier_ids"]) == sorted(verifier.user_id for verifier in verifiers)


@dataclass(frozen=True)
class Classroom:
    """A challenge its learners have submitted to, and who wrote what, in the order they arrived."""

    stack: Stack
    teacher_id: str
    challenge_id: str
    learners: list[Learner]
    submissions: list[str]
    reviewers_per_submission: int

    @property
    def author_of(self) -> dict[str, Learner]:
        """Return each submission's author."""
        return dict(zip(self.submissions, self.learners, strict=True))

    def arrival(self, submission_id: str) -> int:
        """Return when the submission arrived: 0 for the first."""
        return self.submissions.index(submission_id)

    def allocation(self) -> list[dict[str, Any]]:
        """Return the teacher's view of the challenge's allocation."""
        return allocation(self.stack, self.teacher_id, self.challenge_id)

    def allocated(self, submission_id: str) -> dict[str, Any]:
        """Return one submission of the teacher's view."""
        (item,) = [item for item in self.allocation() if item["target_id"] == submission_id]
        return item

    def open_assignments(self, learner: Learner) -> list[dict[str, Any]]:
        """Return the learner's open assignments of this challenge."""
        return assignments_of(self.stack, learner, challenge_id=self.challenge_id, status="assigned")


def a_class_submits(stack: Stack, size: int, reviewers_per_submission: int) -> Classroom:
    """Publish a challenge with a rubric and blind review, and have `size` learners of two cohorts submit to it."""
    teacher_id = unique("teacher")
    challenge_id = open_challenge(
        stack,
        teacher_id,
        tags=[unique("biology")],
        rubric=RUBRIC,
        review={"reviewers_per_submission": reviewers_per_submission, "due_hours": 48, "blind": True},
    )
    learners = learners_of_two_cohorts(size)
    submissions = [submit(stack, challenge_id, learner) for learner in learners]
    return Classroom(stack, teacher_id, challenge_id, learners, submissions, reviewers_per_submission)


def assert_gave_to_get(classroom: Classroom) -> None:
    """Assert each arrival was given as many earlier submissions still short of reviewers as a submission needs."""
    # So the first learner gets none and the second only the first submission.
    wanted_counts = [min(classroom.reviewers_per_submission, index) for index in range(len(classroom.learners))]
    given = until(
        classroom.stack,
        lambda: [
            assignments_of(classroom.stack, learner, challenge_id=classroom.challenge_id)
            for learner in classroom.learners
        ],
        lambda seen: [len(mine) for mine in seen] == wanted_counts,
    )
    for index, mine in enumerate(given):
        for assignment in mine:
            assert classroom.arrival(assignment["target_id"]) < index, "give-to-get hands out earlier work only"
            assert (assignment["kind"], assignment["status"], assignment["mode"]) == ("submission", "assigned", "push")
            assert assignment["late"] is False


def assert_closing_allocates_the_rest(classroom: Classroom) -> None:
    """Close the challenge as its teacher; assert peer review gives every submission its reviewers."""
    stack = classroom.stack
    url = stack.url("challenges", f"/challenges/{classroom.challenge_id}/close")
    assert call("POST", url, teacher(classroom.teacher_id), 200)["status"] == "closed"
    allocated = until(
        stack,
        classroom.allocation,
        lambda items: len(items) == len(classroom.submissions) and all(item["needed"] == 0 for item in items),
    )
    for item in allocated:
        reviewers = active_reviewers(item)
        assert len(reviewers) == len(set(reviewers)) == classroom.reviewers_per_submission, item
        assert classroom.author_of[item["target_id"]].user_id not in reviewers, "nobody reviews their own work"
    body = {"challenge_id": classroom.challenge_id}
    again = call("POST", stack.url("peer_review", "/allocations"), teacher(classroom.teacher_id), 200, json=body)
    assert again["created"] == 0, "allocating again adds nothing once nothing is short"
    assert pull(stack, classroom.learners[1], challenge_id=classroom.challenge_id).status_code == 204


def assert_reviewers_read_blind(classroom: Classroom) -> None:
    """Assert every reviewer reads their submissions at the challenges service without the author; nobody else."""
    for learner in classroom.learners:
        for assignment in classroom.open_assignments(learner):
            seen = readable(classroom.stack, learner, assignment["target_id"])
            assert seen["author_id"] is None, "the review is blind"
            assert seen["grade"] is None
            assert seen["content"] == content_of(classroom.author_of[assignment["target_id"]])
            url = classroom.stack.url("peer_review", f"/targets/submission/{assignment['target_id']}/reviews")
            as_reviewer = call("GET", url, learner.headers, 200)
            assert (as_reviewer["status"], as_reviewer["author_id"], as_reviewer["reviews"]) == ("open", None, [])
    outsider = Learner(unique("outsider"), "c1")
    assert read_submission(classroom.stack, outsider.headers, classroom.submissions[0]).status_code == 404


def assert_declining_hands_the_submission_on(classroom: Classroom, decliner: Learner) -> None:
    """Decline one of the learner's assignments; assert they lose access and someone else takes it at once."""
    stack = classroom.stack
    (declined, *_) = classroom.open_assignments(decliner)
    target_id = declined["target_id"]
    url = stack.url("peer_review", f"/assignments/{declined['id']}/decline")
    assert call("POST", url, decliner.headers, 200, json={})["status"] == "declined"
    unreadable(stack, decliner, target_id)
    handed_on = classroom.allocated(target_id)
    assert handed_on["needed"] == 0
    reviewers = active_reviewers(handed_on)
    assert len(reviewers) == len(set(reviewers)) == classroom.reviewers_per_submission
    assert decliner.user_id not in reviewers
    refused = review(stack, decliner, declined["id"], expected=409, scores={"Accuracy": 5, "Clarity": 5})
    assert "declined" in refused["detail"]


def everyone_reviews(classroom: Classroom) -> dict[str, list[dict[str, int]]]:
    """Have every learner review what they hold (once they may read it); return the scores given per submission."""
    given: dict[str, list[dict[str, int]]] = defaultdict(list)
    for index, learner in enumerate(classroom.learners):
        for assignment in classroom.open_assignments(learner):
            target_id = assignment["target_id"]
            readable(classroom.stack, learner, target_id)
            scores = {"Accuracy": 1 + (classroom.arrival(target_id) + index) % 5, "Clarity": 5 - index % 3}
            stored = review(classroom.stack, learner, assignment["id"], scores=scores)
            assert (stored["target_id"], stored["scores"], stored["late"]) == (target_id, scores, False)
            given[target_id].append(scores)
    return given


def assert_graded_by_consensus(classroom: Classroom, submission_id: str, given: list[dict[str, int]]) -> None:
    """Assert the submission is graded by the median of its reviews, at challenges and as its author sees it."""
    # The median per criterion: the weighted aggregator falls back to it while no reviewer has a history.
    stack, author = classroom.stack, classroom.author_of[submission_id]
    consensus = {name: statistics.median(scores[name] for scores in given) for name in given[0]}
    expected_grade = sum(consensus.values()) / RUBRIC_TOTAL
    graded = graded_at_challenges(stack, author, submission_id)["grade"]
    assert graded["grade"] == pytest.approx(expected_grade)
    assert graded["scores"] == pytest.approx(consensus)
    assert (graded["review_count"], graded["overridden"]) == (len(given), False)
    assert "Reviewer 1: " in graded["feedback"] and author.user_id not in graded["feedback"]

    url = stack.url("peer_review", f"/targets/submission/{submission_id}/reviews")
    mine = call("GET", url, author.headers, 200)
    assert (mine["status"], mine["author_id"], mine["reviews_wanted"]) == ("graded", author.user_id, len(given))
    assert (mine["grade"]["grade"], mine["grade"]["aggregator"]) == (pytest.approx(expected_grade), "median")
    assert sorted(shown["reviewer"] for shown in mine["reviews"]) == [
        f"Reviewer {number}" for number in range(1, len(given) + 1)
    ]
    assert all(shown["reviewer_id"] is None and shown["mine"] is False for shown in mine["reviews"])
    shown_scores = sorted(sorted(shown["scores"].items()) for shown in mine["reviews"])
    assert shown_scores == sorted(sorted(scores.items()) for scores in given)
    # The teacher sees who the reviewers behind the aliases are.
    staff = call("GET", url, teacher(classroom.teacher_id), 200)
    reviewers = active_reviewers(classroom.allocated(submission_id))
    assert sorted(shown["reviewer_id"] for shown in staff["reviews"]) == sorted(reviewers)


def test_a_class_reviews_each_other_give_to_get_and_every_submission_is_graded_by_its_peers(stack: Stack) -> None:
    reviewers_per_submission = 2
    classroom = a_class_submits(stack, 5, reviewers_per_submission)
    assert_gave_to_get(classroom)

    # The first learner, given nothing, pulls from the queue: the submission with the fewest reviewers (none yet).
    pulled = pull(stack, classroom.learners[0], challenge_id=classroom.challenge_id)
    assert pulled.status_code == 201, pulled.text
    assert (pulled.json()["target_id"], pulled.json()["mode"]) == (classroom.submissions[-1], "pull")

    # Closing the challenge (challenge.closed reaches peer review) allocates what is still short.
    assert_closing_allocates_the_rest(classroom)
    assert_reviewers_read_blind(classroom)
    assert_declining_hands_the_submission_on(classroom, classroom.learners[2])

    given = everyone_reviews(classroom)
    assert sorted(map(len, given.values())) == [reviewers_per_submission] * len(classroom.submissions)
    for submission_id in classroom.submissions:
        assert_graded_by_consensus(classroom, submission_id, given[submission_id])


def test_a_reviewer_who_declined_sees_the_submission_at_neither_service(stack: Stack) -> None:
    classroom = a_class_submits(stack, 2, reviewers_per_submission=1)
    author, reviewer = classroom.learners
    (assignment,) = until(stack, lambda: classroom.open_assignments(reviewer), lambda mine: len(mine) == 1)
    first_submission = classroom.submissions[0]
    assert assignment["target_id"] == first_submission
    url = stack.url("peer_review", f"/targets/submission/{first_submission}/reviews")
    assert readable(stack, reviewer, first_submission)["author_id"] is None
    assert call("GET", url, reviewer.headers, 200)["author_id"] is None

    declined = stack.url("peer_review", f"/assignments/{assignment['id']}/decline")
    assert call("POST", declined, reviewer.headers, 200, json={})["status"] == "declined"
    # "You lose access to the target": the challenges service hides the work, and so should peer review.
    unreadable(stack, reviewer, first_submission)
    assert call("GET", url, author.headers, 200)["status"] == "open"
    as_decliner = requests.get(url, headers=reviewer.headers, timeout=10)
    assert as_decliner.status_code == 404, as_decliner.text


def test_a_knowledge_update_verified_by_two_peers_active_in_its_tag_becomes_the_current_version(
    stack: Stack,
) -> None:
    tag = unique("astronomy")
    teacher_id = unique("teacher")
    challenge_id = open_challenge(stack, teacher_id, tags=[tag])
    # Learners who submitted to a challenge of the tag are known to peer review as active in it.
    active = learners_of_two_cohorts(3, "active")
    for learner in active:
        submit(stack, challenge_id, learner)
    until(stack, lambda: allocation(stack, teacher_id, challenge_id), lambda items: len(items) == len(active))

    resource_id, revision_id, proposal = propose_revision(stack, tag)
    asked = until(
        stack,
        lambda: [assignments_of(stack, learner, kind="revision") for learner in active],
        lambda seen: sum(map(len, seen)) == 2,
    )
    verifiers = [learner for learner, mine in zip(active, asked, strict=True) if mine]
    assert len(verifiers) == 2, "two verifiers, each asked once"
    for mine in asked:
        for assignment in mine:
            assert (assignment["target_id"], assignment["resource_id"]) == (revision_id, resource_id)
            assert (assignment["mode"], assignment["status"], assignment["challenge_id"]) == ("push", "assigned", None)
            assert assignment["details"]["changes"]["summary"]["new"] == proposal["summary"]
            assert assignment["details"]["note"] == proposal["note"]

    first, second = verifiers
    (first_assignment,) = asked[active.index(first)]
    (second_assignment,) = asked[active.index(second)]
    stored = review(stack, first, first_assignment["id"], verdict="approve")
    assert (stored["verdict"], stored["scores"]) == ("approve", None)
    # One verdict of two decides nothing: the revision stays open at peer review, pending at challenges.
    url = stack.url("peer_review", f"/targets/revision/{revision_id}/reviews")
    assert call("GET", url, first.headers, 200)["status"] == "open"
    resource, revision = resource_at(stack, resource_id, revision_id)
    assert (resource["version"], revision["status"]) == (1, "pending")

    review(stack, second, second_assignment["id"], verdict="approve")
    verified_and_current(stack, resource_id, revision_id, proposal, verifiers)
    assert call("GET", url, first.headers, 200)["status"] == "decided"


def test_a_knowledge_update_nobody_is_asked_to_verify_is_verified_from_the_queue(stack: Stack) -> None:
    # Nobody has been active in a brand-new tag, so the revision waits in the pull queue.
    resource_id, revision_id, proposal = propose_revision(stack, unique("geology"))
    first, second, third = learners_of_two_cohorts(3, "verifier")
    claimed = until(stack, lambda: pull(stack, first, kind="revision"), lambda response: response.status_code != 204)
    assert claimed.status_code == 201, claimed.text
    assert (claimed.json()["target_id"], claimed.json()["mode"]) == (revision_id, "pull")
    assert claimed.json()["details"]["changes"]["summary"]["new"] == proposal["summary"]
    also_claimed = pull(stack, second, kind="revision")
    assert also_claimed.status_code == 201, also_claimed.text
    assert also_claimed.json()["target_id"] == revision_id
    assert pull(stack, third, kind="revision").status_code == 204, "two verifiers are enough"

    review(stack, first, claimed.json()["id"], verdict="approve")
    review(stack, second, also_claimed.json()["id"], verdict="approve")
    verified_and_current(stack, resource_id, revision_id, proposal, [first, second])


def test_an_allocation_killed_after_its_first_batch_is_completed_by_running_it_again(stack: Stack) -> None:
    reviewers_per_submission = 3
    teacher_id = unique("teacher")
    challenge_id = open_challenge(
        stack, teacher_id, review={"reviewers_per_submission": reviewers_per_submission, "due_hours": 24}
    )
    learners = learners_of_two_cohorts(40)
    submission_of = {learner.user_id: submit(stack, challenge_id, learner) for learner in learners}

    def statuses() -> Counter[str]:
        return Counter(item["status"] for item in allocation(stack, teacher_id, challenge_id))

    until(stack, statuses, lambda seen: seen == {"open": len(learners)})
    # Give-to-get reviewed nearly everything on arrival. Everyone withdraws (cancelling the reviews of their
    # submission) and submits again, so at the close every submission is short of all its reviewers:
    # an allocation of more than one batch.
    for learner in learners:
        url = stack.url("challenges", f"/submissions/{submission_of[learner.user_id]}/withdraw")
        call("POST", url, learner.headers, 200)
    until(stack, statuses, lambda seen: seen == {"withdrawn": len(learners)})
    for learner in learners:
        assert submit(stack, challenge_id, learner) == submission_of[learner.user_id]
    before = until(
        stack,
        lambda: allocation(stack, teacher_id, challenge_id),
        lambda items: [item["status"] for item in items] == ["open"] * len(learners),
    )
    wanted = sum(item["needed"] for item in before)
    assert wanted > ASSIGNMENT_BATCH, f"only {wanted} assignments are short: the allocation would be one batch"
    assert not any(active_reviewers(item) for item in before)

    # Nothing else may reach the armed worker before the close: it would die on that job instead.
    stack.wait_for_empty_queue("peer_review")
    crashing = stack.start_worker("peer_review", CONNECTIVE_CRASH_AT="peer_review.assignments.after_batch")
    call("POST", stack.url("challenges", f"/challenges/{challenge_id}/close"), teacher(teacher_id), 200)
    assert crashing.wait(timeout=30) == 137, log_tails(stack)
    # The worker died with the first batch stored whole and nothing of the rest.
    partial = allocation(stack, teacher_id, challenge_id)
    assert sum(len(active_reviewers(item)) for item in partial) == ASSIGNMENT_BATCH

    stack.start_worker("peer_review")
    url = stack.url("peer_review", "/allocations")
    rerun = call("POST", url, teacher(teacher_id), 200, json={"challenge_id": challenge_id})
    assert rerun["created"] == wanted - ASSIGNMENT_BATCH

    final = allocation(stack, teacher_id, challenge_id)
    author_of = {submission_id: user_id for user_id, submission_id in submission_of.items()}
    pairs = Counter(
        (item["target_id"], assignment["reviewer_id"]) for item in final for assignment in item["assignments"]
    )
    assert [pair for pair, count in pairs.items() if count > 1] == [], "a reviewer is on a target at most once, ever"
    for item in final:
        reviewers = active_reviewers(item)
        assert (len(reviewers), item["needed"]) == (reviewers_per_submission, 0), item
        assert author_of[item["target_id"]] not in reviewers

    # The challenges service heard of every assignment, those of the batch stored before the crash included.
    cohort_of = {learner.user_id: learner.cohort for learner in learners}
    waiting = {(reviewer_id, item["target_id"]) for item in final for reviewer_id in active_reviewers(item)}

    def still_unreadable() -> set[tuple[str, str]]:
        for reviewer_id, submission_id in sorted(waiting):
            headers = Learner(reviewer_id, cohort_of[reviewer_id]).headers
            if read_submission(stack, headers, submission_id).status_code == 200:
                waiting.discard((reviewer_id, submission_id))
        return waiting

    until(stack, still_unreadable, lambda left: not left, timeout=60)


def test_an_api_killed_between_a_review_and_its_grade_is_finished_by_the_workers_timer(stack: Stack) -> None:
    teacher_id = unique("teacher")
    challenge_id = open_challenge(
        stack, teacher_id, rubric=RUBRIC, review={"reviewers_per_submission": 1, "due_hours": 24, "blind": True}
    )
    author, reviewer = learners_of_two_cohorts(2, prefix="crash")
    submission_id = submit(stack, challenge_id, author)
    submit(stack, challenge_id, reviewer)  # give-to-get: the second arrival reviews the first
    (assignment,) = until(stack, lambda: assignments_of(stack, reviewer), lambda found: len(found) == 1)
    crashing = stack.start_api(
        "peer_review", name="peer-review-api-crashing", CONNECTIVE_CRASH_AT="reviews.submit.after_review_write"
    )
    scores = {criterion["criterion"]: 4 for criterion in RUBRIC}
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{crashing}/assignments/{assignment['id']}/review",
            json={"comment": COMMENT, "scores": scores},
            headers=reviewer.headers,
            timeout=10,
        )
    stack.stop("peer-review-api-crashing")
    # The review was stored; the grade was not. The peer-review worker's timer grades what is complete,
    # and marks the assignment reviewed, so it never lapses or is taken back.
    graded = graded_at_challenges(stack, author, submission_id)
    assert graded["grade"]["grade"] == pytest.approx(0.8)
    (reviewed,) = assignments_of(stack, reviewer)
    assert reviewed["status"] == "submitted"
    # The reviewer's retry is told the review is in, naming it.
    retried = review(stack, reviewer, assignment["id"], expected=409, scores=scores)
    assert retried["existing_id"] == reviewed["review_id"]
