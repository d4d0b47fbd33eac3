"""The trigger consumer: exception events on ``triggers.v1`` create or update exceptions.

Other trigger types are not ours and are passed over. Each event is applied once: its org and
envelope id go into ``processed_events`` in the same transaction as its effects, so a redelivery
changes nothing. An event older than the newest one applied to its exception is recorded and
otherwise ignored, so a late duplicate cannot roll an exception back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts import Envelope
from playbooks_contracts.triggers import ExceptionData, TriggerType
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import PoisonMessage
from playbooks_platform.service import Runtime

from . import flows, playbook_runs, service
from .models import processed_events
from .playbook_runs import Actor
from .schemas import ExceptionCreate
from .service import CandidateCache
from .settings import ExceptionPlaybookSettings

log = logging.getLogger(__name__)


def triggers_handler(runtime: Runtime[ExceptionPlaybookSettings]) -> Handler:
    cache = flows.candidate_cache(runtime)

    async def handle(deliveries: Sequence[Delivery]) -> None:
        envelopes = [d.message for d in deliveries if d.message.type == TriggerType.EXCEPTION.value]
        if not envelopes:
            return
        changed = False
        # One transaction per batch: effects, processed ids and outbox rows commit together, and the
        # offsets only after; a failure retries the batch one message at a time.
        async with runtime.database.transaction() as session:
            for envelope in envelopes:
                changed |= await apply_exception_event(session=session, envelope=envelope, cache=cache)
        if changed:
            flows.wake(runtime)

    return handle


async def apply_exception_event(*, session: AsyncSession, envelope: Envelope, cache: CandidateCache) -> bool:
    """Create or update the exception the event describes; False when it was applied before."""
    tenant_id = envelope.org_id
    first = await session.scalar(
        insert(processed_events)
        .values(event_id=envelope.id, tenant_id=tenant_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    if first is None:
        return False
    try:
        data = ExceptionData.model_validate(envelope.data)
        body = ExceptionCreate(
            external_id=data.exception_id or str(envelope.id),
            domain=data.domain,
            exception_type=data.exception_type,
            severity=data.severity.value,
            sla_deadline=data.sla_deadline,
            policy_tags=list(data.policy_tags),
            summary=data.summary,
            attributes=data.attributes,
        )
    except ValidationError as exc:
        raise PoisonMessage(f"not a valid exception event: {exc.errors()[0]['msg']}") from None
    actor = Actor("system", f"trigger:{envelope.source}")
    existing = await service.find_by_external_id(
        session=session, tenant_id=tenant_id, external_id=body.external_id or "", for_update=True
    )
    if existing is None:
        outcome = await playbook_runs.create_exception(
            session=session,
            tenant_id=tenant_id,
            body=body,
            cache=cache,
            actor=actor,
            source_occurred_at=envelope.occurred_at,
            causation=envelope,
        )
    else:
        if existing.source_occurred_at is not None and envelope.occurred_at < existing.source_occurred_at:
            log.info("stale exception event ignored", extra={"event_id": str(envelope.id), "tenant_id": tenant_id})
            await _remember(session, envelope, existing.id)
            return False
        if (existing.domain, existing.exception_type) != (body.domain, body.exception_type):
            log.warning(
                "exception event changes domain or type; kept as first reported",
                extra={"event_id": str(envelope.id), "exception_id": str(existing.id)},
            )
        changes: dict[str, Any] = body.model_dump(include=set(playbook_runs.UPDATABLE))
        outcome = await playbook_runs.update_exception(
            session=session,
            tenant_id=tenant_id,
            exc=existing,
            changes=changes,
            cache=cache,
            actor=actor,
            source_occurred_at=envelope.occurred_at,
            causation=envelope,
        )
    await _remember(session, envelope, outcome.exception.id)
    return outcome.changed


async def _remember(session: AsyncSession, envelope: Envelope, exception_id: Any) -> None:
    await session.execute(
        update(processed_events)
        .where(processed_events.c.tenant_id == envelope.org_id, processed_events.c.event_id == envelope.id)
        .values(exception_id=exception_id)
    )
