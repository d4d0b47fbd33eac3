"""Consumers: execution outcomes -> stats (and ``broken``), compiled runbooks -> pending_review tenant playbooks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from playbooks_contracts import Envelope
from playbooks_contracts.messages import PlaybookExecuted, RunbookCompiled
from playbooks_contracts.recommendation import PLAYBOOK_ID_PATTERN, VERSION_PATTERN, PlaybookDocument
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import Conflict, DomainError, NotFound, PoisonMessage
from playbooks_platform.service import Runtime

from . import lifecycle, service
from .intent import rules_intent
from .playbook_actions import runbook_actions
from .settings import RecommendationSettings


def executions_handler(runtime: Runtime[RecommendationSettings]) -> Handler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        settings = runtime.settings
        for d in deliveries:
            env = d.message
            if not isinstance(env, Envelope):
                continue
            data = PlaybookExecuted.model_validate(env.data)
            # One transaction per message, idempotent on the run id (or the envelope id when absent).
            async with runtime.database.tenant_transaction(env.org_id) as session:
                try:
                    _, changed = await service.record_execution(
                        session=session,
                        org_id=env.org_id,
                        playbook_id=data.playbook_id,
                        version=data.version,
                        success=data.success,
                        run_id=data.run_id or str(env.id),
                        duration_ms=data.duration_ms,
                        error=data.error,
                        broken_after=settings.broken_after_failures,
                        parameters=data.parameters,
                        failed_step=data.failed_step,
                    )
                except NotFound as exc:
                    raise PoisonMessage(exc.detail) from None
                # Library versions have no tenant point; refresh ignores keys without a row.
                lifecycle.follow(session, runtime, env.org_id, [*changed, (data.playbook_id, data.version)])

    return handle


def runbook_document(data: RunbookCompiled) -> PlaybookDocument:
    """A pending_review tenant playbook from a compiled runbook (the runbook is its executable form)."""
    runbook = data.runbook
    meta = runbook.get("meta")
    meta_in: dict[str, Any] = meta if isinstance(meta, dict) else {}
    steps = [s for s in runbook.get("steps", []) if isinstance(s, dict)] or [{"id": "run", "title": data.name}]
    text = " ".join([data.name, data.description, " ".join(str(s.get("title", "")) for s in steps)])
    intent = rules_intent(text)
    description = (
        data.description
        or str(meta_in.get("description") or "")
        or f"Runbook compiled from {data.source_name or 'a guide'}."
    )
    declared = meta_in.get("vars")
    variables: dict[Any, Any] = declared if isinstance(declared, dict) else {}
    # What it does is a fact of its commands (the command ontology), never a guess from its title.
    actions = runbook_actions(runbook)
    return PlaybookDocument.model_validate(
        {
            "metadata": {
                "playbook_id": data.playbook_id,
                "version": data.version,
                "name": data.name[:300],
                "description": description[:4000],
                "purpose": f"Governed runbook compiled from {data.source_name or 'a troubleshooting guide'}"[:300],
                "use_cases": [data.name[:300]],
                "keywords": [k[:80] for k in intent.keywords[:20]],
                "cloud_provider": intent.cloud_provider,
                "resource_types": intent.resource_types,
                "author": "user_custom",
                "storage_strategy": "uploaded_for_review",
                "status": "pending_review",
                "tags": {"category": intent.category or "runbook", "risk_level": "medium", "requires_approval": True},
                "primary_action": actions[0] if actions else None,
                "other_actions": actions[1:6],
            },
            "parameters": [
                {
                    "name": k.lower(),
                    "type": "string",
                    "description": f"Runbook variable {k}",
                    "required": False,
                    "default": v,
                }
                for k, v in list(variables.items())[:50]
                if isinstance(k, str) and k.isidentifier()
            ],
            "explain_plan": {
                "what_it_does": description[:4000],
                "why_use_it": [f"Follows the reviewed guide {data.source_name or data.name}"[:300]],
                "what_happens": [
                    {
                        "step": i + 1,
                        "action": str(s.get("title") or s.get("id") or f"step {i + 1}")[:300],
                        "details": f"{s.get('type', 'step')} step {s.get('id', i + 1)}"[:4000],
                        "duration_seconds": 0,
                        "can_fail": True,
                    }
                    for i, s in enumerate(steps[:100])
                ],
                "rollback_strategy": "Steps are governed by the runbook runtime; review each step's evidence.",
                "success_criteria": ["Every required step passed its assertions"],
            },
            "runbook": runbook,
        }
    )


def compiled_handler(runtime: Runtime[RecommendationSettings]) -> Handler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            env = d.message
            if not isinstance(env, Envelope):
                continue
            data = RunbookCompiled.model_validate(env.data)
            if not _PLAYBOOK_ID.match(data.playbook_id) or not _VERSION.match(data.version):
                raise PoisonMessage(f"playbook id {data.playbook_id!r} or version {data.version!r} is not valid here")
            try:
                document = runbook_document(data)
            except ValidationError as exc:
                raise PoisonMessage(f"compiled runbook does not make a valid playbook: {exc.errors()[:3]}") from None
            # whoever compiled it is its author: four eyes keeps them from approving it
            author = env.source.removeprefix("http:") if env.source.startswith("http:") else "compiler"
            try:
                async with runtime.database.tenant_transaction(env.org_id) as session:
                    await lifecycle.publish(
                        session,
                        runtime,
                        org_id=env.org_id,
                        document=document,
                        actor=author,
                        from_ref=f"compiled from {data.source_name or 'a guide'} (message {env.id})",
                    )
            except Conflict:
                continue  # redelivery: this version was published already
            except DomainError as exc:
                raise PoisonMessage(exc.detail) from None

    return handle


_PLAYBOOK_ID = re.compile(PLAYBOOK_ID_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)


# --- goals: runbook-runs.v1 -> the goal that follows the run (recommendation_agent.goals) ---------------
from playbooks_contracts.messages import RunbookRunUpdated  # noqa: E402

from .goals import follow_run  # noqa: E402


def runs_handler(runtime: Runtime[RecommendationSettings]) -> Handler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            env = d.message
            if not isinstance(env, Envelope):
                continue
            try:
                update = RunbookRunUpdated.model_validate(env.data)
            except ValidationError as exc:
                raise PoisonMessage(f"not a runbook.run_updated message: {exc.errors()[0]['msg']}") from None
            # one transaction per message; a run no goal asked for is someone else's and is passed over
            async with runtime.database.tenant_transaction(env.org_id) as session:
                await follow_run(session=session, org_id=env.org_id, update=update)

    return handle
