"""A small school built through the API: who is who, and what each of them owns.

The role/ownership matrix and the bad-input table both start from this world:
- teacher-1 owns a published challenge (cohort 7a) and a draft;
- alice (7a) has submitted to the challenge and shared a resource;
- bob (7a) has proposed a revision of alice's resource (so a second proposal of his waits: 409);
- carol is a learner of cohort 7b; teacher-2 is another teacher; admin-1 an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

from tests.factories import bearer, challenge_body, resource_body, revision_body, submission_body

ANONYMOUS: dict[str, str] = {}
LEARNER = bearer("alice", "learner", cohorts=("7a",))
OTHER_LEARNER = bearer("bob", "learner", cohorts=("7a",))
OTHER_COHORT = bearer("carol", "learner", cohorts=("7b",))
OWNER_TEACHER = bearer("teacher-1", "teacher")
OTHER_TEACHER = bearer("teacher-2", "teacher")
ADMIN = bearer("admin-1", "admin")

PRINCIPALS: dict[str, dict[str, str]] = {
    "anonymous": ANONYMOUS,
    "learner": LEARNER,
    "other_learner": OTHER_LEARNER,
    "other_cohort": OTHER_COHORT,
    "owner_teacher": OWNER_TEACHER,
    "other_teacher": OTHER_TEACHER,
    "admin": ADMIN,
}


@dataclass(frozen=True)
class World:
    """The ids of what the world's people own."""

    challenge_id: str
    draft_id: str
    submission_id: str
    resource_id: str
    revision_id: str

    def fill(self, path: str) -> str:
        """Replace {challenge}, {draft}, {submission}, {resource} and {revision} in a path."""
        return path.format(
            challenge=self.challenge_id,
            draft=self.draft_id,
            submission=self.submission_id,
            resource=self.resource_id,
            revision=self.revision_id,
        )


def _created(response: Any) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    identifier: str = response.get_json()["id"]
    return identifier


def build_world(client: FlaskClient) -> World:
    """Create the world through the API and return its ids."""
    challenge_id = _created(client.post("/challenges", json=challenge_body(cohorts=["7a"]), headers=OWNER_TEACHER))
    published = client.post(f"/challenges/{challenge_id}/publish", headers=OWNER_TEACHER)
    assert published.status_code == 200, published.get_data(as_text=True)
    draft_id = _created(client.post("/challenges", json=challenge_body(title="Draft"), headers=OWNER_TEACHER))
    submission_id = _created(
        client.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=LEARNER)
    )
    resource_id = _created(client.post("/resources", json=resource_body(), headers=LEARNER))
    revision_id = _created(
        client.post(f"/resources/{resource_id}/revisions", json=revision_body(), headers=OTHER_LEARNER)
    )
    return World(challenge_id, draft_id, submission_id, resource_id, revision_id)
