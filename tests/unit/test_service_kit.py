"""The service kit every service is built on: domain errors as problems, the store's writes with events,
the consumer's batches, the use-case context, the error documentation and the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mongomock
import pytest
from flask_smorest import Blueprint

from shared.consumer import Received, consume
from shared.contracts.events import Event, EventType
from shared.domain import DomainError, Forbidden, InvalidField, InvalidState, NotFound, TooLarge
from shared.errors import domain_problem
from shared.outbox import OUTBOX_FIELD, Outbox
from shared.registry import SERVICES, service
from shared.settings import Settings
from shared.store import Store, UnannouncedCollection
from shared.usecase import UseCaseContext
from shared.web import ErrorDocs
from tests.builders import NOW, learner
from tests.factories import SECRET, resource_shared_event

# ---------------------------------------------------------------------------------------------------------------
# Domain errors become problems by their family


class Taken(InvalidState):
    kind = "taken"


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (NotFound("No such thing"), 404, "not-found"),
        (Forbidden("Not yours"), 403, "forbidden"),
        (InvalidState("Closed"), 409, "invalid-state"),
        (Taken("Taken", existing_id="x1"), 409, "taken"),
        (InvalidField("title", "Too long"), 422, "validation-error"),
        (TooLarge("Too many versions"), 413, "too-large"),
        (DomainError("Some other rule"), 422, "rule-violation"),
    ],
)
def test_a_domain_error_answers_with_its_familys_status_and_its_own_kind(
    error: DomainError, status: int, kind: str
) -> None:
    problem = domain_problem(error).to_dict()
    assert (problem["status"], problem["type"], problem["detail"]) == (
        status,
        f"https://connective.dev/problems/{kind}",
        str(error),
    )


def test_a_domain_errors_details_become_members_and_an_invalid_field_names_the_field() -> None:
    assert domain_problem(Taken("Taken", existing_id="x1")).to_dict()["existing_id"] == "x1"
    assert domain_problem(InvalidField("ends_at", "Must be later")).to_dict()["errors"] == {
        "ends_at": ["Must be later"]
    }


# ---------------------------------------------------------------------------------------------------------------
# The store writes events with their documents and dispatches them


class Queue:
    """Stands in for the RQ publisher: records what it was handed, or fails like an unreachable Redis."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.down = False

    def publish(self, events: Sequence[Event]) -> None:
        if self.down:
            raise ConnectionError("Redis is unreachable")
        self.published.extend(event.id for event in events)


@pytest.fixture
def queue() -> Queue:
    return Queue()


@pytest.fixture
def store(queue: Queue) -> Store:
    database: Any = mongomock.MongoClient(tz_aware=True)["kit"]
    outbox = Outbox(lambda: database, queue.publish, collections=["things"], grace_seconds=10)
    return Store(lambda: database, outbox=outbox)


def event() -> Event:
    return resource_shared_event("alice")


def test_an_insert_dispatches_its_events_and_leaves_no_outbox_behind(store: Store, queue: Queue) -> None:
    announced = event()
    store.insert("things", {"_id": "t1", "name": "a"}, [announced])
    assert queue.published == [announced.id]
    assert store.collection("things").find_one({"_id": "t1"}) == {"_id": "t1", "name": "a"}


def test_an_update_that_matches_nothing_stores_and_dispatches_nothing(store: Store, queue: Queue) -> None:
    store.insert("things", {"_id": "t1", "version": 1})
    assert not store.update("things", {"_id": "t1", "version": 2}, {"$set": {"version": 3}}, [event()])
    assert queue.published == []
    assert store.collection("things").find_one({"_id": "t1"}) == {"_id": "t1", "version": 1}


def test_events_that_cannot_be_published_wait_in_the_document_for_the_relay(store: Store, queue: Queue) -> None:
    queue.down = True
    announced = event()
    store.insert("things", {"_id": "t1"}, [announced])
    document = store.collection("things").find_one({"_id": "t1"})
    assert document is not None
    assert list(document[OUTBOX_FIELD]) == [announced.id]
    queue.down = False
    assert store.outbox is not None
    assert store.outbox.relay_pending(now=announced.occurred_at.replace(year=announced.occurred_at.year + 1)) == 1
    assert queue.published == [announced.id]


def test_events_written_to_a_collection_the_relay_does_not_watch_are_refused(store: Store, queue: Queue) -> None:
    with pytest.raises(UnannouncedCollection):
        store.insert("elsewhere", {"_id": "x"}, [event()])
    assert store.collection("elsewhere").count_documents({}) == 0
    store.insert("elsewhere", {"_id": "x"})  # a write that announces nothing may go anywhere
    assert queue.published == []


# ---------------------------------------------------------------------------------------------------------------
# The consumer hands each handler its batch


def test_types_sharing_a_handler_arrive_in_one_batch_and_others_are_ignored() -> None:
    batches: list[list[str]] = []

    def handler(received: Sequence[Received]) -> None:
        batches.append([event.id for event, _ in received])

    first, second = event(), event()
    unhandled = Event(type=EventType.RESOURCE_FLAGGED, producer="challenges", actor_id=None, data={})
    envelopes = [first.to_dict(), unhandled.to_dict(), second.to_dict(), first.to_dict()]
    assert consume(envelopes, service="test", handlers={EventType.RESOURCE_SHARED: handler}) == 2
    assert batches == [[first.id, second.id]]


def test_a_malformed_envelope_or_payload_is_dropped_and_the_rest_applied() -> None:
    applied: list[str] = []

    def handler(received: Sequence[Received]) -> None:
        applied.extend(payload["owner_id"] for _, payload in received)

    bad_payload = resource_shared_event("bob").to_dict()
    del bad_payload["data"]["owner_id"]
    envelopes: list[Any] = [{"id": "not-a-uuid"}, bad_payload, event().to_dict()]
    assert consume(envelopes, service="test", handlers={EventType.RESOURCE_SHARED: handler}) == 1
    assert applied == ["alice"]


def test_a_service_without_handlers_ignores_whatever_arrives() -> None:
    assert consume([event().to_dict()], service="test", handlers={}) == 0


# ---------------------------------------------------------------------------------------------------------------
# The use-case context, error documentation and the registry


def test_events_name_the_services_producer_the_actor_and_the_request_that_caused_them() -> None:
    context = UseCaseContext(producer="peer_review", request_id=lambda: "req-1")
    made = context.event(EventType.REVIEW_ASSIGNED, learner("alice"), {"a": 1}, NOW)
    assert (made.producer, made.actor_id, made.request_id, made.occurred_at) == ("peer_review", "alice", "req-1", NOW)
    assert context.event(EventType.REVIEW_ASSIGNED, None, {}, NOW).actor_id is None


def test_a_service_documents_its_errors_in_its_own_words_over_the_shared_defaults() -> None:
    docs = ErrorDocs(examples={404: {"detail": "No board named so"}})
    assert docs.example(404)["detail"] == "No board named so"
    assert docs.example(401)["status"] == 401
    assert docs.example(422)["errors"]
    decorated = docs(Blueprint("b", __name__), 401, 404)(lambda: None)
    assert set(decorated._apidoc["response"]["responses"]) == {401, 404}


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_settings_take_each_services_port_and_database_from_the_registry(spec: Any) -> None:
    environ = {"MONGO_URL": "mongomock://", "REDIS_URL": "redis://localhost:1/0", "JWT_SECRET": SECRET}
    settings = Settings.from_env(spec.name, {**environ, spec.port_variable: "6123", "MONGO_DB_PREFIX": "x_"})
    assert (settings.port, settings.database_name) == (6123, f"x_{spec.name}")
    assert Settings.from_env(spec.name, environ).port == spec.port
    assert set(settings.service_urls) == {other.name for other in SERVICES}


def test_an_unknown_service_is_not_in_the_registry() -> None:
    with pytest.raises(KeyError):
        service("grading")
