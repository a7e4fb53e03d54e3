# ruff: noqa: E501 - the policy is a table, one endpoint per line
"""Who may do what: one declared table over every endpoint of the three services and eight kinds of caller.

Each row names a service, an endpoint and the status each caller gets, starting from that service's world
(tests/integration/world.py, peer_review_world.py, leaderboards_world.py), in which the columns are:

| column          | challenges                                          | peer_review                                  | leaderboards                     |
|-----------------|-----------------------------------------------------|----------------------------------------------|----------------------------------|
| `anonymous`     | no token                                            | no token                                     | no token                         |
| `learner`       | alice (7a): submitted, shared the resource          | alice (7a): authored the submissions         | alice (7a): has points           |
| `other_learner` | bob (7a): proposed a revision of alice's resource   | bob (7a): alice's assigned reviewer          | bob (7a): has points and awards  |
| `other_cohort`  | carol, a learner of 7b                              | zoe, a learner of 7b on none of this         | carol (7b): has points           |
| `owner_teacher` | teacher-1: owns the challenges                      | teacher-1: owns the challenges               | teacher-1: teaches 7a            |
| `other_teacher` | teacher-2                                           | teacher-2                                    | teacher-2: teaches 7b            |
| `admin`         | admin-1                                             | admin-1                                      | admin-1                          |
| `service`       | a `service` token (peer_review's)                   | a `service` token (challenges')              | a `service` token (challenges')  |

A 404 where one might expect 403 is deliberate: learners are not told that drafts, other cohorts' challenges
or other people's submissions exist, and nobody but its reviewer learns that an assignment or a review does.
A `service` token reads what the services would need to read from each other (a submission and its versions,
a reviewer's record, boards, ledgers, badges, rules) and may write nothing: services change each other's
state through events only (no service calls another over HTTP today, see shared/http.py).

Each service's matrix (test_access_matrix.py, test_peer_review_access.py, test_leaderboards_access.py) is
generated from its rows; test_policy.py checks the table against the OpenAPI documents and
docs/architecture.md's summary ("Who may do what").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.factories import challenge_body, resource_body, revision_body, submission_body
from tests.integration.peer_review_world import review_body

CALLERS = (
    "anonymous",
    "learner",
    "other_learner",
    "other_cohort",
    "owner_teacher",
    "other_teacher",
    "admin",
    "service",
)
SERVICES = ("challenges", "peer_review", "leaderboards")

# A request body made for the service's world and the caller's user id.
Body = Callable[[Any, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One endpoint of one service, and the status each caller gets, in CALLERS order."""

    service: str
    name: str
    method: str
    path: str
    statuses: tuple[int, ...]
    body: Body | None = None
    # peer_review: what a permitted write enqueues for the challenges service at least, by event type.
    announces: tuple[str, ...] = ()
    # leaderboards: whose ledger a permitted reversal lands in (an award names its learner in its body).
    ledger_of: str | None = None
    # leaderboards: a permitted call mints a classroom-screen token (a write to Redis, no ledger entry).
    mints: bool = False

    def expected(self) -> dict[str, int]:
        """Return the status each caller gets."""
        assert len(self.statuses) == len(CALLERS), self.name
        return dict(zip(CALLERS, self.statuses, strict=True))

    def operation(self) -> tuple[str, str]:
        """Return the (METHOD, path template) of the service's OpenAPI document this row exercises."""
        path = self.path.partition("?")[0]
        for placeholder, parameter in TEMPLATES[self.service]:
            path = path.replace(placeholder, parameter)
        return self.method, path


def _fixed(make: Callable[[], dict[str, Any]]) -> Body:
    return lambda world, caller: make()


def _json(body: dict[str, Any]) -> Body:
    return lambda world, caller: dict(body)


def _award(user_id: str, **fields: Any) -> Body:
    return lambda world, caller: {"user_id": user_id, "points": 10, "reason": "Helped the class", **fields}


def _award_self(world: Any, caller: str) -> dict[str, Any]:
    return {"user_id": caller, "points": 10, "reason": "I deserve it"}


def _reverse(key: str) -> Body:
    return lambda world, caller: {"entry_key": world.fill(key), "reason": "Awarded by mistake"}


def _review(world: Any, caller: str) -> dict[str, Any]:
    return review_body()


def _edited_review(world: Any, caller: str) -> dict[str, Any]:
    return review_body(comment="On second reading: every step is right.")


def _allocate(world: Any, caller: str) -> dict[str, Any]:
    return {"challenge_id": world.challenge_id}


C, P, L = SERVICES

# fmt: off
POLICY = (
    #   service name                                       method   path                                                        anon lrn  other cohort owner other admin svc
    Row(C, "create challenge",                             "POST",  "/challenges",                                               (401, 403, 403, 403, 201, 201, 201, 403), _fixed(challenge_body)),
    Row(C, "list challenges",                              "GET",   "/challenges",                                               (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "read published challenge",                     "GET",   "/challenges/{challenge}",                                   (401, 200, 200, 404, 200, 200, 200, 403)),
    Row(C, "read draft",                                   "GET",   "/challenges/{draft}",                                       (401, 404, 404, 404, 200, 200, 200, 403)),
    Row(C, "edit challenge",                               "PATCH", "/challenges/{challenge}",                                   (401, 403, 403, 403, 200, 403, 200, 403), _json({"title": "Renamed"})),
    Row(C, "publish draft",                                "POST",  "/challenges/{draft}/publish",                               (401, 403, 403, 403, 200, 403, 200, 403)),
    Row(C, "close challenge",                              "POST",  "/challenges/{challenge}/close",                             (401, 403, 403, 403, 200, 403, 200, 403)),
    Row(C, "archive draft",                                "POST",  "/challenges/{draft}/archive",                               (401, 403, 403, 403, 200, 403, 200, 403)),
    Row(C, "submit",                                       "POST",  "/challenges/{challenge}/submissions",                       (401, 409, 201, 404, 403, 403, 403, 403), _fixed(submission_body)),
    Row(C, "list my submissions",                          "GET",   "/submissions",                                              (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "list challenge submissions",                   "GET",   "/challenges/{challenge}/submissions",                       (401, 200, 200, 404, 200, 403, 200, 403)),
    Row(C, "read submission",                              "GET",   "/submissions/{submission}",                                 (401, 200, 404, 404, 200, 404, 200, 200)),
    Row(C, "revise submission",                            "PUT",   "/submissions/{submission}",                                 (401, 200, 404, 404, 403, 404, 403, 403), _fixed(submission_body)),
    Row(C, "withdraw submission",                          "POST",  "/submissions/{submission}/withdraw",                        (401, 200, 404, 404, 403, 404, 403, 403)),
    Row(C, "list submission versions",                     "GET",   "/submissions/{submission}/versions",                        (401, 200, 404, 404, 200, 404, 200, 200)),
    Row(C, "read submission version",                      "GET",   "/submissions/{submission}/versions/1",                      (401, 200, 404, 404, 200, 404, 200, 200)),
    Row(C, "share resource",                               "POST",  "/resources",                                                (401, 201, 201, 201, 201, 201, 201, 403), _fixed(resource_body)),
    Row(C, "search resources",                             "GET",   "/resources",                                                (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "read resource",                                "GET",   "/resources/{resource}",                                     (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "endorse resource",                             "POST",  "/resources/{resource}/endorsements",                        (401, 403, 201, 201, 201, 201, 201, 403)),
    Row(C, "flag resource",                                "POST",  "/resources/{resource}/flags",                               (401, 201, 201, 201, 201, 201, 201, 403), _json({"reason": "outdated", "note": "Pluto lost planet status"})),
    Row(C, "propose revision",                             "POST",  "/resources/{resource}/revisions",                           (401, 201, 409, 201, 201, 201, 201, 403), _fixed(revision_body)),
    Row(C, "list revisions",                               "GET",   "/resources/{resource}/revisions",                           (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "read revision",                                "GET",   "/resources/{resource}/revisions/{revision}",                (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(C, "decide revision",                              "POST",  "/resources/{resource}/revisions/{revision}/decision",       (401, 200, 403, 403, 200, 200, 200, 403), _json({"decision": "accept"})),

    Row(P, "list my assignments",                          "GET",   "/assignments",                                              (401, 200, 200, 200, 200, 200, 200, 403)),
    Row(P, "claim from the queue",                         "POST",  "/assignments/next",                                         (401, 201, 204, 201, 201, 201, 201, 403), _json({}), ("review.assigned",)),
    Row(P, "read an assignment",                           "GET",   "/assignments/{assignment}",                                 (401, 404, 200, 404, 404, 404, 404, 403)),
    Row(P, "decline an assignment",                        "POST",  "/assignments/{assignment}/decline",                         (401, 404, 200, 404, 404, 404, 404, 403), _json({}), ("review.declined",)),
    Row(P, "review an assignment",                         "POST",  "/assignments/{assignment}/review",                          (401, 404, 201, 404, 404, 404, 404, 403), _review),
    Row(P, "edit a review",                                "PUT",   "/reviews/{review}",                                         (401, 404, 200, 404, 404, 404, 404, 403), _edited_review),
    Row(P, "rate a review",                                "POST",  "/reviews/{review}/rating",                                  (401, 201, 404, 404, 404, 404, 404, 403), _json({"helpfulness": 4})),
    Row(P, "read a submission's reviews",                  "GET",   "/targets/submission/{submission}/reviews",                  (401, 200, 200, 404, 200, 404, 200, 403)),
    Row(P, "read a revision's verifications",              "GET",   "/targets/revision/{revision}/reviews",                      (401, 200, 200, 404, 200, 200, 200, 403)),
    Row(P, "override a grade",                             "POST",  "/targets/submission/{submission}/override",                 (401, 403, 403, 403, 200, 403, 200, 403), _json({"scores": {"Accuracy": 5, "Clarity": 5}, "reason": "Checked"}), ("target.graded",)),
    Row(P, "decide a revision",                            "POST",  "/targets/revision/{revision}/override",                     (401, 403, 403, 403, 200, 200, 200, 403), _json({"verdict": "approve"}), ("revision.verified",)),
    Row(P, "read a reviewer's record",                     "GET",   "/reviewers/bob",                                            (401, 403, 200, 403, 200, 200, 200, 200)),
    Row(P, "allocate a challenge",                         "POST",  "/allocations",                                              (401, 403, 403, 403, 200, 403, 200, 403), _allocate, ("review.assigned",)),
    Row(P, "see a challenge's allocation",                 "GET",   "/allocations?challenge_id={challenge}",                     (401, 403, 403, 403, 200, 403, 200, 403)),
    Row(P, "reassign an assignment",                       "POST",  "/allocations/{assignment}/reassign",                        (401, 403, 403, 403, 201, 403, 201, 403), _json({"reviewer_id": "dave"}), ("review.assigned", "review.declined")),

    Row(L, "read the global board",                        "GET",   "/leaderboards/global",                                      (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "read a cohort's week board",                   "GET",   "/leaderboards/cohort:7a?window=week",                       (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "read a member's place",                        "GET",   "/leaderboards/global/users/alice?around=2",                 (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "read a non-member's place",                    "GET",   "/leaderboards/cohort:7b/users/alice",                       (401, 404, 404, 404, 404, 404, 404, 404)),
    Row(L, "read members' places",                         "GET",   "/leaderboards/global/members?user_id=alice&user_id=nobody", (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "read a learner's points",                      "GET",   "/users/alice/points",                                       (401, 200, 403, 403, 200, 403, 200, 200)),
    Row(L, "read a learner's badges",                      "GET",   "/users/alice/badges",                                       (401, 200, 403, 403, 200, 403, 200, 200)),
    Row(L, "read another cohort's learner's points",       "GET",   "/users/carol/points",                                       (401, 403, 403, 200, 403, 200, 200, 200)),
    Row(L, "read another cohort's learner's badges",       "GET",   "/users/carol/badges",                                       (401, 403, 403, 200, 403, 200, 200, 200)),
    Row(L, "read the rules",                               "GET",   "/rules",                                                    (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "award a learner of the teacher's cohort",      "POST",  "/awards",                                                   (401, 403, 403, 403, 201, 403, 201, 403), _award("alice", cohorts=["7a"])),
    Row(L, "award a learner of another cohort",            "POST",  "/awards",                                                   (401, 403, 403, 403, 403, 201, 201, 403), _award("carol")),
    Row(L, "award onto another cohort's board",            "POST",  "/awards",                                                   (401, 403, 403, 403, 403, 403, 201, 403), _award("alice", cohorts=["7b"])),
    Row(L, "award oneself",                                "POST",  "/awards",                                                   (401, 403, 403, 403, 403, 403, 403, 403), _award_self),
    Row(L, "reverse an entry on the cohort's board",       "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 201, 403, 201, 403), _reverse("{shared}"), ledger_of="alice"),
    Row(L, "reverse an award the teacher made",            "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 201, 403, 201, 403), _reverse("{global_award}"), ledger_of="bob"),
    Row(L, "reverse an award on another cohort's",         "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 403, 201, 201, 403), _reverse("{other_cohort_award}"), ledger_of="carol"),
    Row(L, "reverse an entry reversed already",            "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 409, 403, 409, 403), _reverse("{reversed}")),
    Row(L, "reverse a reversal",                           "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 409, 403, 409, 403), _reverse("{reversal}")),
    Row(L, "reverse an unknown entry",                     "POST",  "/awards/reversals",                                         (401, 403, 403, 403, 404, 404, 404, 403), _reverse("award:unknown")),
    Row(L, "mint a classroom screen's token",              "POST",  "/leaderboards/cohort:7a/view-tokens",                       (401, 403, 403, 403, 201, 201, 201, 403), _json({"hours": 2}), mints=True),
    Row(L, "open a board's classroom screen",              "GET",   "/leaderboards/cohort:7a/view",                              (401, 200, 200, 200, 200, 200, 200, 200)),
    Row(L, "follow a board's classroom stream",            "GET",   "/leaderboards/cohort:7a/stream",                            (401, 200, 200, 200, 200, 200, 200, 200)),
)

# What a row's path names concretely, and the OpenAPI path template parameter it stands for, per service.
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    C: (
        ("{challenge}",                      "{challenge_id}"),
        ("{draft}",                          "{challenge_id}"),
        ("{submission}",                     "{submission_id}"),
        ("{resource}",                       "{resource_id}"),
        ("{revision}",                       "{revision_id}"),
        ("/versions/1",                      "/versions/{version}"),
    ),
    P: (
        ("/targets/submission/{submission}", "/targets/{kind}/{target_id}"),
        ("/targets/revision/{revision}",     "/targets/{kind}/{target_id}"),
        ("{assignment}",                     "{assignment_id}"),
        ("{review}",                         "{review_id}"),
        ("/reviewers/bob",                   "/reviewers/{user_id}"),
    ),
    L: (
        ("/leaderboards/global",             "/leaderboards/{board}"),
        ("/leaderboards/cohort:7a",          "/leaderboards/{board}"),
        ("/leaderboards/cohort:7b",          "/leaderboards/{board}"),
        ("/users/alice",                     "/users/{user_id}"),
        ("/users/carol",                     "/users/{user_id}"),
    ),
}
# fmt: on


def rows_of(service: str) -> tuple[Row, ...]:
    """Return the service's rows, in the table's order."""
    assert service in SERVICES, service
    return tuple(row for row in POLICY if row.service == service)
