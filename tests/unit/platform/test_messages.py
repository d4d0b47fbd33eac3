"""The message API: what ``new`` and ``caused`` write is the ``Envelope`` contract, causation and
depth come from the cause alone, and the ids it mints are ordinary UUIDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks_contracts import Envelope, derived_id
from playbooks_contracts.envelope import MAX_CAUSATION_DEPTH, MAX_SOURCE_LENGTH
from playbooks_contracts.topics import TRIGGERS
from playbooks_platform import messages
from playbooks_platform.bus.codec import encode as codec_encode
from playbooks_platform.messages import MAX_DEPTH, Cause, PositionIds, TooDeep, caused, new


def test_one_depth_limit() -> None:
    assert MAX_DEPTH == MAX_CAUSATION_DEPTH == Envelope.model_fields["depth"].metadata[-1].le


def test_new_writes_the_envelope_contract_to_the_byte() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    ident = uuid.uuid4()
    msg = new(type="activity_event", org_id="acme", source="test", data={"a": [1, "b"]}, id=ident, occurred_at=when)
    env = Envelope.model_validate(msg)
    assert env.model_dump(mode="json") == msg  # the same keys, values and order
    assert list(msg) == list(Envelope.model_fields)
    assert messages.encode(msg) == orjson.dumps(env.model_dump(mode="json")) == codec_encode(env)
    assert env.id == ident and env.causation_id is None and env.depth == 0 and env.occurred_at == when


def test_defaults_mint_an_id_and_take_the_time() -> None:
    before = datetime.now(UTC)
    a, b = (new(type="t", org_id="acme", source="s", data={}) for _ in range(2))
    assert a["id"] != b["id"] and uuid.UUID(a["id"]).version == 4
    assert before <= Envelope.model_validate(a).occurred_at <= datetime.now(UTC)


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    when = datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    msg = new(type="t", org_id="acme", source="s", data={}, occurred_at=when.astimezone(UTC))
    assert (
        msg["occurred_at"]
        == "2026-01-02T03:00:00Z"
        == Envelope.model_validate(msg).model_dump(mode="json")["occurred_at"]
    )


def test_caused_goes_one_level_deeper_and_stops_at_the_limit() -> None:
    env = Envelope(type="activity_event", org_id="acme", data={})
    child = Envelope.model_validate(caused(env, type="task", data={"x": 1}, source="engine"))
    assert child.causation_id == env.id and child.depth == 1 and child.org_id == "acme"
    grandchild = Envelope.model_validate(caused(child.model_dump(mode="json"), type="t", data={}, source="s"))
    assert grandchild.causation_id == child.id and grandchild.depth == 2
    deep = Envelope(type="t", org_id="acme", depth=MAX_CAUSATION_DEPTH)
    with pytest.raises(TooDeep, match=f"exceeds the limit of {MAX_DEPTH}"):
        caused(deep, type="t", data={}, source="s")


def test_a_record_is_clamped_at_the_limit_and_causes_nothing_further() -> None:
    deep = Envelope(type="t", org_id="acme", depth=MAX_CAUSATION_DEPTH)
    record = caused(deep, type="playbook_run.recorded", data={}, source="s", clamp=True)
    assert record["depth"] == MAX_DEPTH and record["causation_id"] == str(deep.id)
    with pytest.raises(TooDeep):
        caused(record, type="t", data={}, source="s")


def test_a_cause_read_once_gives_the_same_messages() -> None:
    env = Envelope(type="t", org_id="acme", depth=2)
    once = messages.cause(env)
    assert once == Cause(str(env.id), "acme", 2) and messages.cause(once) is once
    when = "2026-01-01T00:00:00Z"
    a = caused(env, type="x", data={}, source="s", id="i", occurred_at=when)
    assert a == caused(once, type="x", data={}, source="s", id="i", occurred_at=when)


@pytest.mark.parametrize("depth", [-1, MAX_DEPTH + 1])
def test_new_holds_a_stated_depth_to_the_limit(depth: int) -> None:
    with pytest.raises(TooDeep):
        new(type="t", org_id="acme", source="s", data={}, depth=depth)


@pytest.mark.parametrize("source", ["", "x" * (MAX_SOURCE_LENGTH + 1)])
def test_new_refuses_a_source_the_envelope_would_refuse(source: str) -> None:
    with pytest.raises(ValueError, match="source is"):
        new(type="t", data={}, org_id="o", source=source)
    with pytest.raises(ValueError):
        Envelope(type="t", data={}, org_id="o", source=source)
    Envelope.model_validate(new(type="t", data={}, org_id="o", source="x" * MAX_SOURCE_LENGTH))


def test_data_already_encoded_is_written_as_it_is() -> None:
    msg = new(type="t", org_id="acme", source="s", data=orjson.Fragment(b'{"k":[1,2]}'))
    assert Envelope.model_validate_json(messages.encode(msg)).data == {"k": [1, 2]}


def test_outgoing_is_keyed_by_org_with_the_given_headers() -> None:
    msg = new(type="t", org_id="acme", source="s", data={})
    out = messages.outgoing(TRIGGERS, msg, {"traceparent": "00-x"})
    assert out.key == "acme" and out.value == messages.encode(msg) and out.headers == {"traceparent": "00-x"}
    assert messages.as_envelope(msg).org_id == "acme"


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=MAX_DEPTH),
    clamp=st.booleans(),
    data=st.dictionaries(
        st.text(alphabet="abcxyz", max_size=5), st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3
    ),
)
def test_caused_is_always_one_step_deeper_or_refused(depth: int, clamp: bool, data: dict) -> None:
    by = Envelope(type="t", org_id="acme", depth=depth)
    try:
        msg = caused(by, type="x", data=data, source="s", clamp=clamp)
    except TooDeep:
        assert depth == MAX_DEPTH and not clamp
        return
    env = Envelope.model_validate(msg)
    assert env.depth == min(depth + 1, MAX_DEPTH) and env.causation_id == by.id
    assert env.model_dump(mode="json") == msg


# -- ids -------------------------------------------------------------------------------------


def test_unchecked_uuids_are_the_checked_ones() -> None:
    for value in (0, 1, uuid.uuid4().int, (1 << 128) - 1):
        made, checked = messages._uuid(value), uuid.UUID(int=value)
        assert made == checked and str(made) == str(checked) and hash(made) == hash(checked)
        assert made.version == checked.version and made.is_safe == checked.is_safe


def test_position_ids_are_stable_unique_version_8_uuids() -> None:
    log = PositionIds("topic", "upstream.activity-events", 3)
    offsets = [0, 1, 2, 123456, 2**62 - 1]
    ids = [log(offset) for offset in offsets]
    assert ids == [PositionIds("topic", "upstream.activity-events", 3)(offset) for offset in offsets]
    assert len(set(ids)) == len(ids)
    for offset, ident in zip(offsets, ids, strict=True):
        assert ident == uuid.UUID(str(ident))  # built unchecked: the same as the checked parse
        assert ident.version == 8 and ident.variant == uuid.RFC_4122
        assert ident.int & (2**62 - 1) == offset
    others = {PositionIds("topic", "upstream.activity-events", p)(0) for p in range(64)}
    others |= {PositionIds("topic", f"upstream.t{t}", 0)(0) for t in range(64)}
    assert len(others) == 128  # offset 0 of 128 logs: 128 ids
    # A position past 62 bits is hashed instead, still stable.
    assert log(2**62) == derived_id("topic", "upstream.activity-events", 3, 2**62) == log(2**62)


def test_ids_already_given_out_stay_the_same() -> None:
    # Redelivered upstream records and retried requests must map to the ids they had before.
    log = PositionIds("topic", "upstream.activity-events", 3)
    assert str(log(0)) == "fa528595-be23-873b-8000-000000000000"
    assert str(log(123456)) == "fa528595-be23-873b-8000-00000001e240"
    assert str(derived_id("http", "acme", "k", 0)) == "827d3f71-f8c5-5555-9af9-240492686f0d"
