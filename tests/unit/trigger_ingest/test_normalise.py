"""Envelopes built without re-validation are still ones every consumer accepts."""

from __future__ import annotations

from playbooks_contracts.envelope import MAX_SOURCE_LENGTH
from playbooks_contracts.topics import TRIGGERS
from playbooks_contracts.triggers import ActivityEventIn, TriggerType
from playbooks_platform.bus.codec import decode, encode
from trigger_ingest.normalise import to_envelope


def test_an_envelope_of_a_long_user_id_is_cut_to_the_source_limit_and_decodes() -> None:
    event = ActivityEventIn.model_validate({"activity": {"type": "contract_signed"}})
    env = to_envelope(TriggerType.ACTIVITY_EVENT, event, org_id="acme", source="http:" + "u" * 300)
    assert len(env.source) == MAX_SOURCE_LENGTH and env.schema_version == 1
    back = decode(TRIGGERS, encode(env))
    assert back.id == env.id and back.data["activity"]["type"] == "contract_signed"  # type: ignore[attr-defined]


def test_the_producers_own_source_is_kept() -> None:
    event = ActivityEventIn.model_validate({"activity": {"type": "x"}, "source": "crm"})
    assert to_envelope(TriggerType.ACTIVITY_EVENT, event, org_id="acme", source="kafka:t").source == "crm"
