"""Decoding messages against the topic registry: anything undecodable is poison, with a reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from playbooks_contracts import Envelope, derived_id
from playbooks_contracts.envelope import EVENT_ID_NAMESPACE
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_platform.bus.codec import decode, encode
from playbooks_platform.errors import PoisonMessage


def test_round_trip_of_an_envelope() -> None:
    env = Envelope(type="activity_event", org_id="acme", data={"activity": {"type": "x"}})
    back = decode(TRIGGERS, encode(env))
    assert isinstance(back, Envelope) and back.id == env.id
    assert back.data["activity"]["type"] == "x"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"{oops", "not JSON"),
        (b"[1]", "JSON object"),
        (orjson.dumps({"type": "mystery", "org_id": "a"}), "unknown message type"),
        (orjson.dumps({"type": "activity_event", "org_id": "a", "data": {"activity": {}}}), "activity.type"),
    ],
)
def test_poison_messages_name_the_problem(value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        decode(TRIGGERS, value)


def test_raw_topics_use_their_raw_model() -> None:
    msg = decode(UPSTREAM_ACTIVITY_EVENTS, orjson.dumps({"orgId": "acme", "activity": {"type": "X"}}))
    assert msg.org_id == "acme"  # type: ignore[attr-defined]
    with pytest.raises(PoisonMessage, match="org_id"):
        decode(UPSTREAM_ACTIVITY_EVENTS, orjson.dumps({"activity": {"type": "X"}}))


@pytest.mark.parametrize(
    "env",
    [
        Envelope(type="activity_event", org_id="acme", data={"activity": {"type": "x", "n": [1, 2.5, None]}}),
        Envelope(
            type="t",
            org_id="acme",
            occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
            causation_id=uuid.uuid4(),
            depth=3,
            source="s",
            data={"é": "ü", "deep": {"a": {"b": True}}},
        ),
        Envelope(type="t", org_id="acme", occurred_at=datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC)),
    ],
)
def test_envelope_fast_encoding_is_byte_for_byte_pydantics(env: Envelope) -> None:
    assert encode(env) == orjson.dumps(env.model_dump(mode="json"))


def test_derived_ids_are_uuid5() -> None:
    assert derived_id("topic", "upstream.x", 3, 12) == uuid.uuid5(EVENT_ID_NAMESPACE, "topic:upstream.x:3:12")
