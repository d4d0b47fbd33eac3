"""The wire contracts: envelope, topic registry, trigger models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from playbooks_contracts import Envelope
from playbooks_contracts.base import MAX_JSON_DEPTH, _clean, _explain, json_dict
from playbooks_contracts.envelope import derived_id
from playbooks_contracts.topics import ALL_TOPICS, TRIGGERS, topic
from playbooks_contracts.triggers import (
    Activity,
    ActivityEventIn,
    EventBatchIn,
    ExceptionIn,
    UpstreamAccountsPackRun,
    UpstreamActivityEvent,
    UpstreamException,
)


def test_every_topic_is_declared_once_with_key_model_and_dlq() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    for t in ALL_TOPICS:
        assert t.dlq == f"{t.name}.dlq"
        assert t.partitions >= 1 and t.key
        assert t.raw_model is not None or t.data_models, t.name
    assert topic("triggers.v1") is TRIGGERS
    with pytest.raises(LookupError):
        topic("nope")


def test_envelope_refuses_unknown_fields_and_bad_orgs() -> None:
    with pytest.raises(ValidationError):
        Envelope(type="t", org_id="acme", extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Envelope(type="t", org_id="has space")


def test_times_are_normalised_to_utc() -> None:
    env = Envelope(type="t", org_id="a", occurred_at="2026-01-01T10:00:00+02:00")
    assert env.occurred_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_derived_ids_are_stable() -> None:
    assert derived_id("http", "acme", "k", 0) == derived_id("http", "acme", "k", 0)
    assert derived_id("http", "acme", "k", 0) != derived_id("http", "acme", "k", 1)
    assert isinstance(derived_id("x"), uuid.UUID)


def test_upstream_accepts_camel_case_but_keeps_data_maps_verbatim() -> None:
    msg = UpstreamAccountsPackRun.model_validate({"orgId": "acme", "metrics": {"estimatedRunwayMonths": 3}})
    assert msg.org_id == "acme"
    assert msg.metrics == {"estimatedRunwayMonths": 3}
    exc = UpstreamException.model_validate(
        {
            "org_id": "acme",
            "domain": "Finance",
            "exceptionType": "x",
            "severity": " Critical ",
            "policyTags": ["B", "a", "b"],
        }
    )
    assert exc.severity == "critical" and exc.policy_tags == ["a", "b"]


def test_batch_is_discriminated_by_trigger_and_bounded() -> None:
    batch = EventBatchIn.model_validate({"events": [{"trigger": "activity_event", "activity": {"type": "X"}}]})
    assert batch.events[0].activity.type == "x"
    with pytest.raises(ValidationError, match="trigger"):
        EventBatchIn.model_validate({"events": [{"trigger": "nope"}]})
    with pytest.raises(ValidationError):
        EventBatchIn.model_validate({"events": [{"trigger": "activity_event", "activity": {"type": "x"}}] * 1001})
    with pytest.raises(ValidationError):
        EventBatchIn.model_validate({"events": []})


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"n": 2**64}, "64 bits"),
        ({"deep": [{"n": -(2**63) - 1}]}, r"deep\[0\]\.n"),
        ({"x": float("nan")}, "not a JSON number"),
        ({"x": "\ud800"}, "surrogate"),
        ({"\udfff": 1}, "unicode"),
    ],
)
def test_free_form_json_refuses_what_cannot_be_published(metadata: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ActivityEventIn.model_validate({"activity": {"type": "t", "metadata": metadata}})


def test_free_form_json_keeps_the_edges_of_64_bits() -> None:
    event = ActivityEventIn.model_validate({"activity": {"type": "t", "metadata": {"a": 2**63 - 1, "b": -(2**63)}}})
    assert event.activity.metadata == {"a": 2**63 - 1, "b": -(2**63)}


def test_text_that_postgresql_cannot_hold_is_refused_at_the_edge() -> None:
    from pydantic import ValidationError

    from playbooks_contracts.triggers import ExceptionData

    base = {"domain": "Finance", "exception_type": "late", "severity": "high"}
    for bad in ({"domain": "Fin\x00"}, {"policy_tags": ["ok", "\x00"]}, {"attributes": {"note": "a\x00b"}}):
        with pytest.raises(ValidationError, match="NUL character"):
            ExceptionData.model_validate(base | bad)


_awkward_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["\ud800", "a\x00", "\udfff b", "é\x00"])  # lone surrogates and NUL, which text() avoids
)
_awkward = st.recursive(
    _awkward_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.sampled_from(["\ud800", "k\x00"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_awkward, st.integers(min_value=0, max_value=4))
def test_the_quick_json_check_agrees_with_the_careful_walk(value, room) -> None:
    # The quick check decides alone when a value is fine; the walk explains a refusal. They must
    # never disagree, or something unsafe would pass (or something fine be refused). ``room`` is
    # the nesting left, small here so that the depth limit is exercised too.
    try:
        _explain(value, "", room)
        careful = True
    except ValueError:
        careful = False
    assert _clean(value, room) == careful


def test_json_objects_deeper_than_the_limit_are_refused_naming_it() -> None:
    def nested(levels: int) -> dict:
        value: dict = {}
        for _ in range(levels - 1):
            value = {"a": value}
        return value

    Activity.model_validate({"type": "x", "metadata": nested(MAX_JSON_DEPTH)})
    with pytest.raises(ValidationError, match=f"nested deeper than the limit of {MAX_JSON_DEPTH} levels"):
        Activity.model_validate({"type": "x", "metadata": nested(MAX_JSON_DEPTH + 1)})
    with pytest.raises(ValidationError, match=f"limit of {MAX_JSON_DEPTH} levels"):
        Activity.model_validate({"type": "x", "metadata": {"in a list": [nested(MAX_JSON_DEPTH - 1)]}})


@pytest.mark.parametrize(
    "body",
    [
        {"org_id": "a", "occurred_at": "2026-01-02T03:04:05Z", "activity": {"doc_id": "d", "type": "T"}},
        {"orgId": "a", "occurredAt": "2026-01-02T03:04:05Z", "activity": {"docId": "d", "type": "T"}},
        {"OrgId": "a", "OccurredAt": "2026-01-02T03:04:05Z", "Activity": {"DocId": "d", "Type": "T"}},
    ],
)
def test_upstream_records_answer_to_any_case_from_a_dict_and_from_json(body: dict) -> None:
    body["activity" if "activity" in body else "Activity"]["metadata"] = {"dealSize": 1, "deal_size": 2}
    for msg in (
        UpstreamActivityEvent.model_validate(body),
        UpstreamActivityEvent.model_validate_json(orjson.dumps(body)),
    ):
        assert msg.org_id == "a" and msg.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert msg.activity.doc_id == "d" and msg.activity.type == "t"
        assert msg.activity.metadata == {"dealSize": 1, "deal_size": 2}  # the producer's own keys


def test_upstream_refuses_a_field_given_twice_in_two_cases() -> None:
    with pytest.raises(ValidationError, match="orgId"):
        UpstreamActivityEvent.model_validate({"org_id": "a", "orgId": "b", "activity": {"type": "x"}})


def test_json_dict_is_model_dump_in_json_mode() -> None:
    event = ExceptionIn.model_validate(
        {
            "domain": "Finance",
            "exception_type": "late",
            "severity": "HIGH",
            "sla_deadline": "2026-01-01T10:00:00+02:00",
            "policy_tags": ["b", "a"],
            "id": str(uuid.uuid4()),
        }
    )
    assert json_dict(event) == event.model_dump(mode="json")
    assert json_dict(event, {"id", "depth"}) == event.model_dump(mode="json", exclude={"id", "depth"})
