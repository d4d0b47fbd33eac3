"""HTTP API of trigger-ingest: ``POST /v1/events/{trigger}``, ``POST /v1/events:batch`` and ``POST /v1/cloudevents``."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request, status

from playbooks_contracts import utcnow
from playbooks_contracts.triggers import (
    EVENT_IN,
    MAX_BATCH_EVENTS,
    EventAccepted,
    EventBatchIn,
    EventMeta,
    EventsAccepted,
    TriggerType,
)
from playbooks_platform import cloudevents
from playbooks_platform.auth import Principal
from playbooks_platform.errors import Forbidden, Invalid, PayloadTooLarge, UnsupportedMediaType
from playbooks_platform.permissions import Publisher
from playbooks_platform.service import Runtime, RuntimeDep

from .cloudevent_mapping import to_event
from .normalise import http_fallback_id, normalise
from .service import accept_events
from .settings import SettingsDep, TriggerIngestSettings

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
    settings: TriggerIngestSettings,
    principal: Principal,
    idempotency_key: str | None,
    submitted: Sequence[tuple[TriggerType, EventMeta]],
) -> list[EventAccepted]:
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
        event: model,  # type: ignore[valid-type]  # each trigger's own model: FastAPI validates the body by it
        principal: Publisher,
        runtime: RuntimeDep,
        settings: SettingsDep,
        idempotency_key: IdempotencyKey = None,
    ) -> EventAccepted:
        return (await _accept(runtime, settings, principal, idempotency_key, [(trigger, event)]))[0]

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
    batch: EventBatchIn,
    principal: Publisher,
    runtime: RuntimeDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> EventsAccepted:
    accepted = await _accept(runtime, settings, principal, idempotency_key, [(e.trigger, e) for e in batch.events])
    duplicates = sum(a.duplicate for a in accepted)
    return EventsAccepted(accepted=len(accepted) - duplicates, duplicates=duplicates, events=accepted)


_CE_ATTRIBUTES = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
        "type": {
            "type": "string",
            "description": "Names the trigger in its last dot-separated part, e.g. com.example.crm.activity_event",
        },
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "subject": {"type": "string"},
        "data": {"type": "object", "description": "The trigger's event fields (as POST /v1/events/{trigger})"},
    },
}


@router.post(
    "/cloudevents",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RESPONSES
    | {
        403: {"description": "The token lacks 'publish', or an event names another org than the token's"},
        415: {"description": "Neither a CloudEvents content type nor binary-mode ce- headers"},
    },
    summary="Submit CloudEvents 1.0: structured, batch, or binary mode (ce- headers)",
    description="Structured mode: `Content-Type: application/cloudevents+json`, one event. Batch mode: "
    "`application/cloudevents-batch+json`, a JSON array of up to 1,000 events. Binary mode: the attributes "
    "in `ce-specversion`, `ce-id`, `ce-source`, `ce-type` (and `ce-time`, ...) headers, the data as a JSON "
    "body. The event's org is always the token's: an event naming another (`orgid`, `tenantid` extensions) "
    "is refused with 403. `id` becomes the envelope id (a non-UUID id is made stable from org, source and id, "
    "so a resent event is a duplicate), `time` its occurred_at, `source` its source.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                cloudevents.STRUCTURED: {"schema": _CE_ATTRIBUTES},
                cloudevents.BATCH: {"schema": {"type": "array", "items": _CE_ATTRIBUTES, "maxItems": MAX_BATCH_EVENTS}},
                "application/json": {"schema": {"type": "object", "description": "Binary mode: the data only"}},
            },
        }
    },
)
async def submit_cloudevents(
    request: Request, principal: Publisher, runtime: RuntimeDep, settings: SettingsDep
) -> EventsAccepted:
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    body = await request.body()
    try:
        if media in (cloudevents.STRUCTURED, cloudevents.BATCH):
            parsed = _json(body)
            events = (
                [cloudevents.from_structured(parsed)]
                if media == cloudevents.STRUCTURED
                else cloudevents.from_batch(parsed, MAX_BATCH_EVENTS)
            )
        else:
            attributes = cloudevents.binary_attributes(dict(request.headers), cloudevents.HTTP_PREFIX)
            if attributes is None:
                raise UnsupportedMediaType(
                    f"content type {media or '(none)'!r} is not a CloudEvent: send {cloudevents.STRUCTURED!r}, "
                    f"{cloudevents.BATCH!r}, or binary mode (ce-specversion, ce-id, ce-source, ce-type headers "
                    "and a JSON body)"
                )
            if not cloudevents.is_json(attributes.get("datacontenttype")):
                raise UnsupportedMediaType(f"binary-mode data must be JSON, got {media!r}")
            events = [cloudevents.from_attributes(attributes, _json(body) if body else None)]
        submitted = []
        for i, event in enumerate(events):
            try:
                submitted.append(to_event(event, org_id=principal.org_id))
            except cloudevents.CloudEventError as exc:
                raise type(exc)(f"event {i}: {exc}" if len(events) > 1 else str(exc)) from None
    except cloudevents.OrgClaimRefused as exc:
        raise Forbidden(str(exc)) from None
    except cloudevents.CloudEventError as exc:
        raise Invalid(str(exc)) from None
    accepted = await _accept(runtime, settings, principal, None, submitted)
    duplicates = sum(a.duplicate for a in accepted)
    return EventsAccepted(accepted=len(accepted) - duplicates, duplicates=duplicates, events=accepted)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise cloudevents.CloudEventError(f"the body is not JSON: {exc}") from None
