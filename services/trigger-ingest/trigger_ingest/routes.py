"""HTTP API of trigger-ingest: ``POST /v1/events/{trigger}`` and ``POST /v1/events:batch``."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, status

from playbooks_contracts import utcnow
from playbooks_contracts.triggers import (
    EVENT_IN,
    EventAccepted,
    EventBatchIn,
    EventMeta,
    EventsAccepted,
    TriggerType,
)
from playbooks_platform.auth import Principal
from playbooks_platform.errors import Invalid, PayloadTooLarge
from playbooks_platform.permissions import Publisher
from playbooks_platform.service import Runtime, RuntimeDep

from .normalise import http_fallback_id, normalise
from .service import accept_events
from .settings import TriggerIngestSettings

router = APIRouter(prefix="/v1", tags=["events"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Makes a retried request return the same ids without publishing twice.",
    ),
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission 'publish'"},
    413: {"description": "Request or event over the size limit"},
    422: {"description": "Invalid event; the problem names the field"},
}


async def _accept(
    runtime: Runtime,
    principal: Principal,
    idempotency_key: str | None,
    submitted: Sequence[tuple[TriggerType, EventMeta]],
) -> list[EventAccepted]:
    settings: TriggerIngestSettings = runtime.settings  # type: ignore[assignment]
    limit = settings.max_event_bytes
    now = utcnow()
    events = []
    for i, (trigger, event) in enumerate(submitted):
        where = f"event {i}" if len(submitted) > 1 else "the event"
        try:
            normalised = normalise(
                trigger,
                event,
                org_id=principal.org_id,
                source=f"http:{principal.user_id}",
                fallback_id=http_fallback_id(principal.org_id, idempotency_key, i),
                received_at=now,
            )
        except ValueError as exc:
            raise Invalid(f"{where} {exc}") from None
        if normalised.data_bytes > limit:
            raise PayloadTooLarge(f"{where} is {normalised.data_bytes} bytes of data, over the limit of {limit} bytes")
        events.append(normalised)
    async with runtime.database.transaction() as session:
        duplicates = await accept_events(
            session=session,
            publisher=runtime.publisher,
            events=events,
            ttl=timedelta(hours=settings.dedupe_ttl_hours),
        )
    # Both fields are already typed: skip re-validating thousands of them per batch.
    return [EventAccepted.model_construct(id=e.id, duplicate=dup) for e, dup in zip(events, duplicates, strict=True)]


def _single_route(trigger: TriggerType, model: type[EventMeta]) -> None:
    async def submit(
        event: model,
        principal: Publisher,
        runtime: RuntimeDep,  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> EventAccepted:
        return (await _accept(runtime, principal, idempotency_key, [(trigger, event)]))[0]

    router.add_api_route(
        f"/events/{trigger}",
        submit,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=EventAccepted,
        responses=_RESPONSES,
        name=f"submit_{trigger}",
        summary=f"Submit one {trigger} event for the caller's org",
    )


for _trigger, _model in EVENT_IN.items():
    _single_route(_trigger, _model)


@router.post(
    "/events:batch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RESPONSES,
    summary="Submit up to 1,000 events of any trigger in one request",
)
async def submit_batch(
    batch: EventBatchIn, principal: Publisher, runtime: RuntimeDep, idempotency_key: IdempotencyKey = None
) -> EventsAccepted:
    accepted = await _accept(runtime, principal, idempotency_key, [(e.trigger, e) for e in batch.events])
    duplicates = sum(a.duplicate for a in accepted)
    return EventsAccepted(accepted=len(accepted) - duplicates, duplicates=duplicates, events=accepted)
