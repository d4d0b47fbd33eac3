"""CloudEvents 1.0: reading events in the HTTP and Kafka bindings, and writing binary-mode headers.

Only what the platform needs of the specification (https://github.com/cloudevents/spec, v1.0.2):

* HTTP structured mode (``application/cloudevents+json``), batch mode
  (``application/cloudevents-batch+json``: a JSON array of structured events), and binary mode
  (the attributes in ``ce-*`` headers, the data as the body);
* Kafka binary mode (the attributes in ``ce_*`` headers, the data as the value);
* binary-mode ``ce_*`` headers on messages the platform publishes, the payload unchanged.

Who an event belongs to is never read from the event: the caller's token (HTTP) or the topic's
contract (Kafka) says it. An event that names an org of its own (an ``orgid``/``tenantid``
extension) is refused unless it names that same org, so a forged claim is visible, not ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from playbooks_contracts import derived_id

SPECVERSION = "1.0"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
HTTP_PREFIX = "ce-"
KAFKA_PREFIX = "ce_"
REQUIRED = ("id", "source", "specversion", "type")
# Context attributes the platform reads; any other well-named attribute is an extension, kept aside.
KNOWN = frozenset({*REQUIRED, "time", "datacontenttype", "dataschema", "subject", "data", "data_base64"})
# Extensions other systems use to say whose event it is: checked against the authority, never trusted.
ORG_CLAIMS = ("orgid", "org", "tenantid", "tenant")
# The spec: attribute names are lower-case ASCII letters and digits; 20 characters "SHOULD" be the most.
_NAME = re.compile(r"[a-z0-9]{1,20}")
MAX_ATTRIBUTE_CHARS = 2048
MAX_ATTRIBUTES = 32


class CloudEventError(ValueError):
    """An event that breaks the CloudEvents specification or the platform's reading of it."""


@dataclass(frozen=True)
class CloudEvent:
    """The attributes of one event and its data (a JSON value, or None)."""

    id: str
    source: str
    type: str
    time: datetime | None = None
    datacontenttype: str | None = None
    subject: str | None = None
    data: Any = None
    extensions: dict[str, str] = field(default_factory=dict)

    def envelope_id(self, org_id: str) -> uuid.UUID:
        """The envelope id: the event's own when it is a UUID, else stable from (org, source, id),
        which the specification makes unique, so a resent event is a duplicate, not a new one."""
        try:
            return uuid.UUID(self.id)
        except ValueError:
            return derived_id("cloudevent", org_id, self.source, self.id)

    def check_org(self, org_id: str) -> None:
        """Refuse an event that claims an org other than the one its authority gives."""
        for name in ORG_CLAIMS:
            claimed = self.extensions.get(name)
            if claimed is not None and claimed != org_id:
                raise OrgClaimRefused(
                    f"the event's {name!r} attribute names org {claimed!r}, but it was sent for org {org_id!r}; "
                    "the org comes from the token (or the topic), never from the event"
                )


class OrgClaimRefused(CloudEventError):
    """The event names another org than its authority."""


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CloudEventError(f"attribute {name!r} must be a string, got {type(value).__name__}")
    if len(value) > MAX_ATTRIBUTE_CHARS:
        raise CloudEventError(f"attribute {name!r} is {len(value)} characters, over the limit of {MAX_ATTRIBUTE_CHARS}")
    return value


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise CloudEventError(f"attribute 'time' is not an RFC 3339 timestamp: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise CloudEventError("attribute 'time' needs a time zone offset (RFC 3339), e.g. 2026-01-31T12:00:00Z")
    return parsed


def is_json(content_type: str | None) -> bool:
    """Whether a datacontenttype is JSON (absent means JSON in the JSON formats)."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def from_attributes(attributes: Mapping[str, Any], data: Any) -> CloudEvent:
    """A CloudEvent from its attributes (any binding) and its already decoded data."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise CloudEventError(f"the event has {len(attributes)} attributes, over the limit of {MAX_ATTRIBUTES}")
    specversion = attributes.get("specversion")
    if specversion is None:
        raise CloudEventError("the event has no 'specversion'; this endpoint reads CloudEvents 1.0")
    if specversion != SPECVERSION:
        raise CloudEventError(
            f"specversion {str(specversion)[:16]!r} is not supported; send CloudEvents {SPECVERSION!r}"
        )
    missing = [name for name in REQUIRED if attributes.get(name) in (None, "")]
    if missing:
        raise CloudEventError(f"the event lacks the required attribute(s) {missing}")
    extensions: dict[str, str] = {}
    for name, value in attributes.items():
        if not _NAME.fullmatch(name):
            raise CloudEventError(
                f"attribute name {name[:32]!r} is not allowed: lower-case letters and digits, at most 20"
            )
        if name not in KNOWN:
            if isinstance(value, dict | list) or value is None:
                raise CloudEventError(f"extension attribute {name!r} must be a string, number or boolean")
            extensions[name] = _text(name, value if isinstance(value, str) else str(value).lower())
    if "data_base64" in attributes:
        raise CloudEventError("binary data ('data_base64') is not accepted: events carry JSON data")
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not is_json(_text("datacontenttype", content_type)):
        raise CloudEventError(f"datacontenttype {content_type[:64]!r} is not accepted: events carry JSON data")
    time = attributes.get("time")
    subject = attributes.get("subject")
    return CloudEvent(
        id=_text("id", attributes["id"]),
        source=_text("source", attributes["source"]),
        type=_text("type", attributes["type"]),
        time=_time(_text("time", time)) if time is not None else None,
        datacontenttype=content_type,
        subject=_text("subject", subject) if subject is not None else None,
        data=data,
        extensions=extensions,
    )


def from_structured(event: Any) -> CloudEvent:
    """One event of the JSON format (structured mode, or one member of a batch)."""
    if not isinstance(event, dict):
        raise CloudEventError(f"a structured CloudEvent is a JSON object, got {type(event).__name__}")
    attributes = {k: v for k, v in event.items() if k != "data"}
    return from_attributes(attributes, event.get("data"))


def from_batch(events: Any, max_events: int) -> list[CloudEvent]:
    """The events of a batch (``application/cloudevents-batch+json``)."""
    if not isinstance(events, list):
        raise CloudEventError(f"a CloudEvents batch is a JSON array, got {type(events).__name__}")
    if not events:
        raise CloudEventError("the batch is empty")
    if len(events) > max_events:
        raise CloudEventError(f"the batch holds {len(events)} events, over the limit of {max_events}")
    out = []
    for i, event in enumerate(events):
        try:
            out.append(from_structured(event))
        except CloudEventError as exc:
            raise type(exc)(f"event {i}: {exc}") from None
    return out


def binary_attributes(headers: Mapping[str, str], prefix: str) -> dict[str, str] | None:
    """The attributes carried in binary-mode headers (``ce-`` over HTTP, ``ce_`` over Kafka), or None
    when the message is not a binary-mode CloudEvent."""
    attributes = {k[len(prefix) :].lower(): v for k, v in headers.items() if k.lower().startswith(prefix)}
    if not attributes:
        return None
    content_type = headers.get("content-type") or headers.get("Content-Type")
    if content_type is not None and "datacontenttype" not in attributes:
        attributes["datacontenttype"] = content_type
    return attributes


def binary_headers(*, id: str, source: str, type: str, time: str | None, subject: str | None = None) -> dict[str, str]:
    """Kafka binary-mode headers describing a published message; the value stays as it is (JSON)."""
    headers = {
        "ce_specversion": SPECVERSION,
        "ce_id": id,
        "ce_source": source,
        "ce_type": type,
        "content-type": "application/json",
    }
    if time:
        headers["ce_time"] = time
    if subject:
        headers["ce_subject"] = subject
    return headers


_CONSTANT_HEADERS = (("ce_specversion", SPECVERSION.encode()),)
_CONTENT_TYPE = ("content-type", b"application/json")


def binary_wire_headers(
    *, id: str, source: str, type: str, time: str | None, subject: str | None = None
) -> list[tuple[str, bytes]]:
    """``binary_headers`` already on the wire's form (the same pairs, in the same order, encoded):
    for a publisher's hot path, which would otherwise encode a dict of them per message."""
    headers = [
        *_CONSTANT_HEADERS,
        ("ce_id", id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", type.encode()),
        _CONTENT_TYPE,
    ]
    if time:
        headers.append(("ce_time", time.encode()))
    if subject:
        headers.append(("ce_subject", subject.encode()))
    return headers
