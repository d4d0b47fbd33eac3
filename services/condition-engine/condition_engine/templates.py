"""The system templates: data the service ships, from which an org creates its own playbooks."""

from __future__ import annotations

from typing import Any

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "key": "contract-signed-renewal-reminder",
        "name": "Contract signed -> renewal reminder",
        "category": "contracts",
        "description": "When a contract is signed, log a renewal reminder so nobody misses the renewal date.",
        "trigger": "activity_event",
        "conditions": [{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
        "actions": [{"type": "log_activity", "params": {"type": "renewal_reminder_created"}}],
    },
    {
        "key": "new-deck-outreach-sequence",
        "name": "New deck in Vault -> outreach sequence",
        "category": "decks",
        "description": "When a deck lands in the Vault, start the outreach sequence for it.",
        "trigger": "activity_event",
        "conditions": [{"field": "activity.type", "op": "starts_with", "value": "deck_"}],
        "actions": [
            {"type": "log_activity", "params": {"type": "deck_outreach_sequence_started"}},
            {"type": "enqueue_task", "params": {"queue": "outreach_sequence", "target": "investor_list"}},
        ],
    },
    {
        "key": "investor-snapshot-update-recommended",
        "name": "Investor snapshot -> investor update recommended",
        "category": "accounts",
        "description": "When an investor snapshot shows under six months of runway while burning cash, "
        "recommend an investor update.",
        "trigger": "accounts_pack_run",
        "conditions": [
            {"field": "metrics.pack_type", "op": "equals", "value": "investor_accounts_snapshot"},
            {"field": "metrics.estimatedRunwayMonths", "op": "lt", "value": 6},
            {"field": "metrics.totalMonthlyBurn", "op": "gt", "value": 0},
        ],
        "actions": [
            {"type": "log_activity", "params": {"type": "investor_update_recommended"}},
            {"type": "enqueue_task", "params": {"queue": "investor_updates"}},
        ],
    },
)

BY_KEY: dict[str, dict[str, Any]] = {t["key"]: t for t in TEMPLATES}
