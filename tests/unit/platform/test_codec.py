"""Decoding messages against the topic registry: anything undecodable is poison, with a reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks_contracts import Envelope, derived_id
from playbooks_contracts.base import no_nul_escape
from playbooks_contracts.envelope import EVENT_ID_NAMESPACE
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_platform.bus.codec import _decode_carefully, decode, encode
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


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{oops", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"orgId": "a", "activity": {"type": "\\ud800"}}', "not JSON"),  # a lone surrogate
        (b'{"orgId": "a", "activity": {"type": "x", "metadata": {"n": NaN}}}', "not JSON"),
        (orjson.dumps({"orgId": "a", "activity": {"type": "x", "doc_id": "a\x00b"}}), "doc_id: text cannot contain"),
        (orjson.dumps({"orgId": "a", "activity": {"type": "x", "metadata": {"k": "\x00"}}}), "cannot contain"),
        (orjson.dumps({"orgId": "a", "activity": {"type": "x"}, "extra": 1}), "extra"),
    ],
)
def test_raw_messages_refused_fast_get_the_careful_reason(value: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        decode(UPSTREAM_ACTIVITY_EVENTS, value)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    value = orjson.dumps({"orgId": "a", "activity": {"type": "x", "doc_id": "\\u0000"}})
    assert not no_nul_escape(value)
    assert decode(UPSTREAM_ACTIVITY_EVENTS, value).activity.doc_id == "\\u0000"  # type: ignore[attr-defined]


_text = st.text(max_size=6) | st.sampled_from(["a\x00", "é", "  padded  ", "X"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_fields = st.fixed_dictionaries(
    {"orgId": st.sampled_from(["acme", "a\x00", "", "ok.org"])},
    optional={
        "activity": st.fixed_dictionaries(
            {"type": _text}, optional={"docId": _text, "category": _text | st.none(), "metadata": _json}
        ),
        "depth": st.integers(min_value=-1, max_value=7),
        "source": _text,
        "occurredAt": st.sampled_from(["2026-01-02T03:04:05+01:00", "yesterday", "2026-01-02T03:04:05"]),
        "unexpected": _json,
    },
)


@given(_fields)
@settings(max_examples=300, deadline=None)
def test_the_fast_raw_path_agrees_with_the_careful_one(body: dict) -> None:
    try:
        value = orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        return  # not JSON at all (a float NaN, a 70-bit integer): nothing a producer could send
    try:
        careful = _decode_carefully(UPSTREAM_ACTIVITY_EVENTS, value)
    except PoisonMessage as refused:
        with pytest.raises(PoisonMessage) as fast_refused:
            decode(UPSTREAM_ACTIVITY_EVENTS, value)
        assert str(fast_refused.value) == str(refused)
        return
    assert decode(UPSTREAM_ACTIVITY_EVENTS, value) == careful
