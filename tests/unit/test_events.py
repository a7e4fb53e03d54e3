"""Event envelopes, payload contracts, and that routing, handlers and entrypoints agree with one another."""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

from shared.contracts.events import EVENT_TYPES, SCHEMA_VERSION, Event, EventType, InvalidEvent, fact_id
from shared.contracts.payloads import PAYLOAD_SCHEMAS, load_payload
from shared.registry import SERVICES, ServiceSpec, consumers_of
from shared.usecase import UseCaseContext

SHARED_DATA = {
    "resource_id": "r1",
    "owner_id": "alice",
    "url": "https://Example.com/a?utm_source=x",
    "canonical_url": "https://example.com/a",
    "title": "Pluto is a dwarf planet",
}


def envelope(**overrides: Any) -> dict[str, Any]:
    """Return a valid resource.shared envelope with some members replaced."""
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "resource.shared",
        "occurred_at": "2024-05-01T12:00:00Z",
        "producer": "challenges",
        "actor_id": "alice",
        "data": dict(SHARED_DATA),
        "schema_version": SCHEMA_VERSION,
    }
    document.update(overrides)
    return document


def consumer_jobs(spec: ServiceSpec) -> ModuleType:
    return importlib.import_module(f"{spec.package}.jobs")


def test_event_round_trips_through_json() -> None:
    event = Event(
        type=EventType.RESOURCE_SHARED,
        producer="challenges",
        actor_id="alice",
        data=SHARED_DATA,
        occurred_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        request_id="req-1",
    )
    restored = Event.from_dict(json.loads(json.dumps(event.to_dict())))
    assert restored == event


def test_to_dict_writes_utc_with_a_z_suffix() -> None:
    berlin_noon = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    event = Event(type="resource.shared", producer="challenges", actor_id=None, data={}, occurred_at=berlin_noon)
    assert event.to_dict()["occurred_at"] == "2024-05-01T12:00:00Z"


def test_to_dict_has_every_envelope_member_and_no_request_id_when_unset() -> None:
    document = Event(type="resource.shared", producer="challenges", actor_id="alice", data={"a": 1}).to_dict()
    assert set(document) == {"id", "type", "occurred_at", "producer", "actor_id", "data", "schema_version"}
    assert uuid.UUID(document["id"])
    assert document["schema_version"] == SCHEMA_VERSION


def test_new_events_get_distinct_ids() -> None:
    first = Event(type="resource.shared", producer="challenges", actor_id=None, data={})
    second = Event(type="resource.shared", producer="challenges", actor_id=None, data={})
    assert first.id != second.id


def test_events_announcing_one_fact_share_an_id_whoever_makes_them() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    first = UseCaseContext("peer_review").event(EventType.TARGET_GRADED, None, {"grade": 0.8}, now, fact=("t1", 4))
    later = now + timedelta(seconds=3)
    again = UseCaseContext("peer_review").event(EventType.TARGET_GRADED, None, {"grade": 0.75}, later, fact=("t1", 4))
    assert first.id == again.id == fact_id(EventType.TARGET_GRADED, "t1", 4)
    assert Event.from_dict(first.to_dict()).id == first.id
    others = {
        fact_id(EventType.TARGET_GRADED, "t1", 5),
        fact_id(EventType.REVISION_VERIFIED, "t1", 4),
        fact_id(EventType.TARGET_GRADED, "t14"),
        fact_id(EventType.TARGET_GRADED, "t", "14"),
    }
    assert len(others) == 4 and first.id not in others
    plain = UseCaseContext("peer_review").event(EventType.TARGET_GRADED, None, {}, now)
    assert plain.id != first.id


def test_from_dict_converts_offsets_to_utc() -> None:
    event = Event.from_dict(envelope(occurred_at="2024-05-01T14:00:00+02:00"))
    assert event.occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_from_dict_normalises_the_id() -> None:
    raw = uuid.uuid4()
    assert Event.from_dict(envelope(id=str(raw).upper())).id == str(raw)


def test_from_dict_accepts_a_missing_actor() -> None:
    document = envelope()
    del document["actor_id"]
    assert Event.from_dict(document).actor_id is None


@pytest.mark.parametrize("member", ["id", "type", "occurred_at", "producer", "data", "schema_version"])
def test_from_dict_rejects_an_envelope_missing_a_member(member: str) -> None:
    document = envelope()
    del document[member]
    with pytest.raises(InvalidEvent, match=member):
        Event.from_dict(document)


@pytest.mark.parametrize("not_an_object", [None, "resource.shared", ["id"], 7])
def test_from_dict_rejects_an_envelope_that_is_not_an_object(not_an_object: object) -> None:
    with pytest.raises(InvalidEvent, match="object"):
        Event.from_dict(not_an_object)


@pytest.mark.parametrize("bad_id", ["42", "not-a-uuid", 42, ""])
def test_from_dict_rejects_an_id_that_is_not_a_uuid(bad_id: object) -> None:
    with pytest.raises(InvalidEvent, match="UUID"):
        Event.from_dict(envelope(id=bad_id))


@pytest.mark.parametrize("bad_type", ["resource.deleted", "RESOURCE.SHARED", ""])
def test_from_dict_rejects_an_unknown_type(bad_type: str) -> None:
    with pytest.raises(InvalidEvent, match="unknown event type"):
        Event.from_dict(envelope(type=bad_type))


@pytest.mark.parametrize("bad_type", [["resource.shared"], {"name": "resource.shared"}])
def test_from_dict_rejects_a_type_that_is_not_a_string(bad_type: object) -> None:
    with pytest.raises(InvalidEvent):
        Event.from_dict(envelope(type=bad_type))


@pytest.mark.parametrize("naive", ["2024-05-01T12:00:00", "2024-05-01"])
def test_from_dict_rejects_a_naive_occurred_at(naive: str) -> None:
    with pytest.raises(InvalidEvent, match="time zone"):
        Event.from_dict(envelope(occurred_at=naive))


def test_from_dict_rejects_an_occurred_at_that_is_not_iso_8601() -> None:
    with pytest.raises(InvalidEvent, match="ISO 8601"):
        Event.from_dict(envelope(occurred_at="yesterday"))


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, "1", 1.0])
def test_from_dict_rejects_a_future_or_non_integer_schema_version(version: object) -> None:
    with pytest.raises(InvalidEvent, match="schema_version"):
        Event.from_dict(envelope(schema_version=version))


@pytest.mark.parametrize("data", [None, [], "owner_id=alice", 5])
def test_from_dict_rejects_data_that_is_not_an_object(data: object) -> None:
    with pytest.raises(InvalidEvent, match="data"):
        Event.from_dict(envelope(data=data))


def test_from_dict_rejects_a_request_id_that_is_not_a_string() -> None:
    with pytest.raises(InvalidEvent):
        Event.from_dict(envelope(request_id=["a", "b"]))


def test_resource_shared_payload_loads_with_defaults() -> None:
    loaded = load_payload(EventType.RESOURCE_SHARED, SHARED_DATA)
    assert loaded["owner_id"] == "alice"
    assert loaded["tags"] == []
    assert loaded["cohorts"] == []
    assert loaded["challenge_id"] is None


def test_resource_shared_payload_without_owner_is_invalid() -> None:
    data = {name: value for name, value in SHARED_DATA.items() if name != "owner_id"}
    with pytest.raises(InvalidEvent, match="owner_id"):
        load_payload(EventType.RESOURCE_SHARED, data)


def test_resource_shared_payload_with_wrong_types_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="tags"):
        load_payload(EventType.RESOURCE_SHARED, {**SHARED_DATA, "tags": "astronomy"})


def test_resource_shared_payload_tolerates_unknown_fields_from_newer_producers() -> None:
    loaded = load_payload(EventType.RESOURCE_SHARED, {**SHARED_DATA, "language": "en", "score": 3})
    assert "language" not in loaded
    assert loaded["resource_id"] == "r1"


def test_payload_of_an_undeclared_type_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="no payload schema"):
        load_payload("badge.lost", {})


IRREGULAR_PAST_PARTICIPLES = {"withdrawn"}


def test_event_types_are_past_tense_dotted_names() -> None:
    assert len(EVENT_TYPES) == len(EventType)
    for event_type in EVENT_TYPES:
        subject, _, verb = event_type.partition(".")
        assert subject
        assert verb.endswith("ed") or verb in IRREGULAR_PAST_PARTICIPLES, event_type


ROUTED = sorted({event_type for spec in SERVICES for event_type in spec.consumes})


def test_only_known_event_types_are_routed() -> None:
    assert set(ROUTED) <= EVENT_TYPES


def test_consumers_of_names_the_subscribed_services_and_nothing_for_unrouted_types() -> None:
    assert [spec.name for spec in consumers_of(EventType.RESOURCE_SHARED)] == ["leaderboards"]
    assert all(consumers_of(event_type) == () for event_type in sorted(EVENT_TYPES - set(ROUTED)))


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_each_service_handles_exactly_the_event_types_routed_to_it(spec: ServiceSpec) -> None:
    assert set(consumer_jobs(spec).HANDLERS) == spec.consumes


@pytest.mark.parametrize("event_type", ROUTED)
def test_every_routed_event_type_declares_its_payload(event_type: str) -> None:
    assert event_type in PAYLOAD_SCHEMAS


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_consumer_entrypoint_resolves_to_a_callable(spec: ServiceSpec) -> None:
    module_name, _, attribute = spec.consumer_entrypoint.rpartition(".")
    assert module_name == f"services.{spec.queue}.jobs"
    assert callable(getattr(importlib.import_module(module_name), attribute))
