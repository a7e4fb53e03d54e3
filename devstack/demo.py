"""`make demo`: seed a running stack with a realistic class over its HTTP APIs, then show the boards.

About 30 learners in two cohorts, a teacher and three challenges (a peer-reviewed submission challenge, a
resource challenge, a knowledge challenge); resources shared and endorsed, one of them outdated ("Pluto is
a planet", flagged, with an update waiting for verifiers); everyone submits, most review the work they are
handed and some reviews stay in flight; authors rate the reviews of graded work. Then it prints the
boards and one learner's points, entry by entry.

Running it again changes nothing: every step is one the services refuse to do twice (a page shared, an
endorsement, a submission, a flag: 409), or it looks first (a challenge by its title, a review already
written, a rating given, an update already proposed). It talks to the APIs only, with development
tokens signed with JWT_SECRET (the development secret of `make run` unless set).

    python -m devstack.demo [--learners 30]      # against CHALLENGES_URL, PEER_REVIEW_URL, LEADERBOARDS_URL
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from tqdm import tqdm

from devstack.topology import DEV_JWT_SECRET
from shared.auth import mint_token

TIMEOUT = 10
TAG = "demo-class"
COHORTS = ("demo-7a", "demo-7b")
TEACHER = "demo-teacher"
RUBRIC = [
    {"criterion": "Accuracy", "max_score": 5, "description": "The facts are right"},
    {"criterion": "Clarity", "max_score": 5, "description": "A 10-year-old can follow it"},
]
COMMENT = "Clear and correct; one more example of where the sugar goes would help."
TOPICS = ("photosynthesis", "the water cycle", "volcanoes", "the solar system", "fractions", "electric circuits")


class DemoError(RuntimeError):
    """The stack answered something the demo cannot go on from."""


@dataclass(frozen=True)
class Person:
    user_id: str
    roles: tuple[str, ...]
    cohorts: tuple[str, ...]


@dataclass
class Api:
    """The three services' base URLs and the secret tokens are signed with."""

    challenges: str
    peer_review: str
    leaderboards: str
    secret: str

    def headers(self, person: Person) -> dict[str, str]:
        token = mint_token(self.secret, person.user_id, person.roles, cohorts=person.cohorts)
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, url: str, person: Person, ok: Sequence[int], **kwargs: Any) -> requests.Response:
        """Send a request as the person; return the answer if its status is one of `ok`, else stop the demo."""
        response = requests.request(method, url, headers=self.headers(person), timeout=TIMEOUT, **kwargs)
        if response.status_code not in ok:
            raise DemoError(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response


def learners(count: int) -> list[Person]:
    return [Person(f"demo-learner-{index:02d}", ("learner",), (COHORTS[index % 2],)) for index in range(1, count + 1)]


TEACHER_PERSON = Person(TEACHER, ("teacher",), COHORTS)


def challenge(api: Api, title: str, body: dict[str, Any]) -> str:
    """Return the demo's challenge of this title, created and published if it is not there yet."""
    url = f"{api.challenges}/challenges"
    listed = api.call("GET", url, TEACHER_PERSON, (200,), params={"tag": TAG, "limit": 100}).json()["items"]
    found = next((item for item in listed if item["title"] == title and item["owner_id"] == TEACHER), None)
    if found is None:
        found = api.call("POST", url, TEACHER_PERSON, (201,), json={"title": title, **body}).json()
    if found["status"] == "draft":
        api.call("POST", f"{url}/{found['id']}/publish", TEACHER_PERSON, (200,))
    challenge_id: str = found["id"]
    return challenge_id


def open_assignments(api: Api, learner: Person, challenge_id: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"status": "assigned", "limit": 100}
    if challenge_id:
        params["challenge_id"] = challenge_id
    items: list[dict[str, Any]] = api.call(
        "GET", f"{api.peer_review}/assignments", learner, (200,), params=params
    ).json()["items"]
    return items


def publish_challenges(api: Api) -> dict[str, str]:
    """Return the three challenges' ids by name, created and published where they are not yet."""
    photosynthesis = challenge(
        api,
        "Explain photosynthesis to a 10-year-old",
        {
            "description": "About 300 words, with two sources. Two classmates review each piece.",
            "kind": "submission",
            "tags": [TAG, "biology"],
            "cohorts": list(COHORTS),
            "points": 50,
            "rubric": RUBRIC,
            "review": {"reviewers_per_submission": 2, "due_hours": 72, "blind": True},
            "rule_points": {"review.submitted": 12},
        },
    )
    pluto = challenge(
        api,
        "Is Pluto a planet?",
        {
            "description": "Find a source that explains the 2006 IAU decision.",
            "kind": "resource",
            "tags": [TAG, "astronomy"],
            "points": 20,
        },
    )
    notes = challenge(
        api,
        "Keep the astronomy notes current",
        {
            "description": "Flag what is out of date and propose better text.",
            "kind": "knowledge",
            "tags": [TAG, "astronomy"],
            "points": 20,
        },
    )
    return {"photosynthesis": photosynthesis, "pluto": pluto, "notes": notes}


def share_and_endorse(api: Api, people: list[Person], pluto: str, progress: Callable[[str], None]) -> dict[str, str]:
    """A third of the class shares a resource each (the first: the outdated Pluto page); others endorse them."""
    shared: dict[str, str] = {}
    for index, learner in enumerate(people[: max(3, len(people) // 3)]):
        if index == 0:
            body = {
                "url": "https://example.org/demo/pluto-is-a-planet",
                "title": "Pluto is a planet",
                "summary": "The ninth planet of the solar system.",
                "tags": ["astronomy"],
                "challenge_id": pluto,
            }
        else:
            topic = TOPICS[index % len(TOPICS)]
            body = {
                "url": f"https://example.org/demo/{topic.replace(' ', '-')}/{index}",
                "title": f"A clear page on {topic}",
                "tags": ["astronomy" if "solar" in topic else "science"],
            }
        answer = api.call("POST", f"{api.challenges}/resources", learner, (201, 409), json=body)
        shared[learner.user_id] = answer.json()["id"] if answer.status_code == 201 else answer.json()["existing_id"]
        progress("share")
    sharers = list(shared)
    for index, learner in enumerate(people):
        owner = sharers[(index + 1) % len(sharers)]
        if owner != learner.user_id:
            api.call("POST", f"{api.challenges}/resources/{shared[owner]}/endorsements", learner, (201, 409))
        progress("endorse")
    return shared


def submit_and_review(api: Api, people: list[Person], challenge_id: str, progress: Callable[[str], None]) -> None:
    """Everyone submits; two learners in three review what they are handed, the others' reviews stay in flight."""
    for learner in people:
        body = {
            "content": f"Plants catch sunlight and make sugar; {learner.user_id}'s way of saying it.",
            "links": ["https://en.wikipedia.org/wiki/Photosynthesis"],
        }
        api.call("POST", f"{api.challenges}/challenges/{challenge_id}/submissions", learner, (201, 409), json=body)
        progress("submit")
    # Peer review hands out the reviews as the submissions reach it.
    wait_until_stable(lambda: sum(len(open_assignments(api, learner, challenge_id)) for learner in people))
    for index, learner in enumerate(people):
        if index % 3 != 2:
            for assignment in open_assignments(api, learner, challenge_id):
                scores = {"Accuracy": 3 + index % 3, "Clarity": 4 + index % 2}
                url = f"{api.peer_review}/assignments/{assignment['id']}/review"
                api.call("POST", url, learner, (201, 409), json={"scores": scores, "comment": COMMENT})
        progress("review")


def flag_and_propose_an_update(api: Api, people: list[Person], pluto_page: str) -> None:
    """One learner flags the Pluto page outdated; another proposes an update, which waits for verifiers."""
    flagger, proposer = people[2], people[3]
    flag = {"reason": "outdated", "note": "Pluto has been a dwarf planet since 2006."}
    api.call("POST", f"{api.challenges}/resources/{pluto_page}/flags", flagger, (201, 409), json=flag)
    revisions = api.call("GET", f"{api.challenges}/resources/{pluto_page}/revisions", proposer, (200,)).json()
    if not any(item["proposer_id"] == proposer.user_id for item in revisions["items"]):
        proposal = {
            "summary": "Since 2006 Pluto is a dwarf planet: it does not clear its orbit.",
            "note": "IAU resolution B5",
            "sources": ["https://www.iau.org/"],
        }
        api.call("POST", f"{api.challenges}/resources/{pluto_page}/revisions", proposer, (201,), json=proposal)


def graded_submissions(api: Api, people: list[Person], challenge_id: str) -> dict[str, str]:
    """Return each learner's graded submission of the challenge."""
    graded: dict[str, str] = {}
    for learner in people:
        items = api.call(
            "GET", f"{api.challenges}/challenges/{challenge_id}/submissions", learner, (200,), params={"limit": 100}
        ).json()["items"]
        for item in items:
            if item["author_id"] == learner.user_id and item["status"] == "graded":
                graded[learner.user_id] = item["id"]
    return graded


def rate_graded_work(api: Api, people: list[Person], challenge_id: str, progress: Callable[[str], None]) -> None:
    """Authors of graded work rate its reviews (the first very helpful, the other less so), once each."""
    # The grades follow the reviews through the queues: wait until they stop arriving.
    graded = wait_until_stable(lambda: graded_submissions(api, people, challenge_id))
    for learner in people:
        if learner.user_id in graded:
            url = f"{api.peer_review}/targets/submission/{graded[learner.user_id]}/reviews"
            for position, review in enumerate(api.call("GET", url, learner, (200,)).json()["reviews"]):
                if review.get("helpfulness") is None:
                    rating = {"helpfulness": 5 if position == 0 else 3}
                    rated = f"{api.peer_review}/reviews/{review['id']}/rating"
                    api.call("POST", rated, learner, (201, 409), json=rating)
        progress("rate")


T = TypeVar("T")


def wait_until_stable(observe: Callable[[], T], seconds: float = 20.0, quiet: float = 1.5) -> T:
    """Return what `observe` sees once it has not changed for `quiet` seconds (or after `seconds`)."""
    deadline = time.monotonic() + seconds
    seen, since = observe(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = observe()
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return seen


def seed(api: Api, count: int, progress: Callable[[str], None]) -> dict[str, str]:
    """Play the class; return the challenges' ids by name. Every step is safe to repeat."""
    people = learners(count)
    challenges = publish_challenges(api)
    progress("challenges")
    shared = share_and_endorse(api, people, challenges["pluto"], progress)
    submit_and_review(api, people, challenges["photosynthesis"], progress)
    flag_and_propose_an_update(api, people, shared[people[0].user_id])
    progress("knowledge")
    rate_graded_work(api, people, challenges["photosynthesis"], progress)
    return challenges


def settle(api: Api, viewer: Person) -> None:
    """Wait until the global board stops changing (the last points are on their way)."""
    url = f"{api.leaderboards}/leaderboards/global"
    wait_until_stable(lambda: api.call("GET", url, viewer, (200,), params={"limit": 100}).json())


def show(api: Api, challenges: dict[str, str], count: int, out: Any) -> None:
    viewer = TEACHER_PERSON
    for board, title in (
        ("global", "Everyone"),
        (f"cohort:{COHORTS[0]}", f"Cohort {COHORTS[0]}"),
        (f"cohort:{COHORTS[1]}", f"Cohort {COHORTS[1]}"),
        (f"challenge:{challenges['photosynthesis']}", "Explain photosynthesis"),
    ):
        page = api.call("GET", f"{api.leaderboards}/leaderboards/{board}", viewer, (200,), params={"limit": 10}).json()
        print(f"\n{title} ({page['total']} on the board)", file=out)
        for row in page["entries"]:
            print(f"  {row['rank']:>3}. {row['user_id']:<18} {row['points']:>5}", file=out)
    first = learners(count)[0]
    points = api.call("GET", f"{api.leaderboards}/users/{first.user_id}/points", first, (200,), params={"limit": 20})
    body = points.json()
    print(f"\n{first.user_id}: {body['total']} points in {body['count']} entries, level {body['level']}", file=out)
    for entry in body["entries"]:
        print(f"  {entry['points']:>+5}  {entry['rule']:<24} {entry['reason']}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=30, help="learners in the class (at least 4)")
    arguments = parser.parse_args(argv)
    if arguments.learners < 4:
        parser.error("--learners must be at least 4")
    api = Api(
        challenges=os.environ.get("CHALLENGES_URL", "").strip() or "http://127.0.0.1:5001",
        peer_review=os.environ.get("PEER_REVIEW_URL", "").strip() or "http://127.0.0.1:5002",
        leaderboards=os.environ.get("LEADERBOARDS_URL", "").strip() or "http://127.0.0.1:5003",
        secret=os.environ.get("JWT_SECRET", "").strip() or DEV_JWT_SECRET,
    )
    for name, base in (
        ("challenges", api.challenges),
        ("peer_review", api.peer_review),
        ("leaderboards", api.leaderboards),
    ):
        try:
            requests.get(f"{base}/readyz", timeout=TIMEOUT).raise_for_status()
        except requests.RequestException as error:
            print(f"demo: {name} is not ready at {base} ({error}); start the stack with `make run`", file=sys.stderr)
            return 1
    count = arguments.learners
    steps = 1 + max(3, count // 3) + 4 * count + 1
    with tqdm(total=steps, desc="seeding the class", unit="step") as bar:
        try:
            challenges = seed(api, count, lambda _step: bar.update(1))
        except DemoError as error:
            print(f"\ndemo: {error}", file=sys.stderr)
            return 1
    settle(api, TEACHER_PERSON)
    show(api, challenges, count, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
