"""Envelopes written straight from validated events are ones every consumer accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from playbooks_contracts import Envelope
from playbooks_contracts.envelope import MAX_SOURCE_LENGTH
from playbooks_contracts.topics import TRIGGERS
from playbooks_contracts.triggers import ActivityEventIn, ExceptionIn, TriggerType, UpstreamActivityEvent
from playbooks_platform.bus.codec import decode, encode
from trigger_ingest.normalise import normalise


def test_an_envelope_of_a_long_user_id_is_cut_to_the_source_limit_and_decodes() -> None:
    event = ActivityEventIn.model_validate({"activity": {"type": "contract_signed"}})
    out = normalise(TriggerType.ACTIVITY_EVENT, event, org_id="acme", source="http:" + "u" * 300)
    back = decode(TRIGGERS, out.envelope)
    assert isinstance(back, Envelope)
    assert len(back.source) == MAX_SOURCE_LENGTH and back.schema_version == 1
    assert back.id == out.id and back.org_id == out.org_id == "acme"
    assert back.data["activity"]["type"] == "contract_signed"


def test_the_producers_own_source_is_kept() -> None:
    event = ActivityEventIn.model_validate({"activity": {"type": "x"}, "source": "crm"})
    out = normalise(TriggerType.ACTIVITY_EVENT, event, org_id="acme", source="kafka:t")
    assert orjson.loads(out.envelope)["source"] == "crm"


@pytest.mark.parametrize(
    ("trigger", "event"),
    [
        (
            TriggerType.ACTIVITY_EVENT,
            ActivityEventIn.model_validate({"activity": {"type": "x", "metadata": {"é": 1.5}}}),
        ),
        (
            TriggerType.ACTIVITY_EVENT,
            UpstreamActivityEvent.model_validate(
                {
                    "orgId": "acme",
                    "id": str(uuid.uuid4()),
                    "occurredAt": "2026-01-02T03:04:05.000007+01:00",
                    "causationId": str(uuid.uuid4()),
                    "depth": 2,
                    "activity": {"type": "x", "docId": "d"},
                }
            ),
        ),
        (
            TriggerType.EXCEPTION,
            ExceptionIn.model_validate(
                {"domain": "Claims", "exception_type": "t", "severity": "HIGH", "sla_deadline": "2026-01-02T03:04:05Z"}
            ),
        ),
    ],
)
def test_the_bytes_are_the_envelope_contract_exactly(trigger: TriggerType, event: ActivityEventIn) -> None:
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    out = normalise(trigger, event, org_id="acme", source="kafka:t", fallback_id=uuid.uuid4(), received_at=now)
    envelope = Envelope.model_validate_json(out.envelope)  # every field there, none unknown, all valid
    assert encode(envelope) == out.envelope  # and in the contract's order and formatting
    assert envelope.data == event.model_dump(
        mode="json", exclude={"id", "occurred_at", "source", "causation_id", "depth", "org_id"}
    )
    assert out.data_bytes == len(orjson.dumps(envelope.data))
    assert orjson.dumps(orjson.loads(out.envelope)) == out.envelope  # orjson's bytes, to the byte
    assert envelope.occurred_at == (event.occurred_at or now)
