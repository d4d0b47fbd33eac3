"""The CloudEvents 1.0 reading and writing the platform shares (no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from playbooks_platform import cloudevents as ce

BASE = {"specversion": "1.0", "id": "x-1", "source": "/crm", "type": "com.example.activity_event"}


def test_structured_event_attributes_and_extensions() -> None:
    event = ce.from_structured(BASE | {"time": "2026-12-01T10:00:00Z", "traceflag": True, "data": {"a": 1}})
    assert (event.id, event.source, event.type) == ("x-1", "/crm", "com.example.activity_event")
    assert event.time == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert event.extensions == {"traceflag": "true"} and event.data == {"a": 1}


def test_a_non_uuid_id_is_stable_per_org_and_source() -> None:
    one = ce.from_structured(BASE)
    assert one.envelope_id("org-a") == ce.from_structured(BASE).envelope_id("org-a")
    assert one.envelope_id("org-a") != one.envelope_id("org-b")
    assert one.envelope_id("org-a") != ce.from_structured(BASE | {"source": "/erp"}).envelope_id("org-a")
    ident = uuid.uuid4()
    assert ce.from_structured(BASE | {"id": str(ident)}).envelope_id("org-a") == ident


def test_binary_headers_read_in_any_case_and_content_type_is_the_datacontenttype() -> None:
    headers = {"Ce-Specversion": "1.0", "ce-id": "1", "CE-SOURCE": "/s", "ce-type": "t", "content-type": "text/xml"}
    attributes = ce.binary_attributes(headers, ce.HTTP_PREFIX)
    assert attributes == {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "datacontenttype": "text/xml"}
    assert ce.binary_attributes({"content-type": "application/json"}, ce.HTTP_PREFIX) is None
    with pytest.raises(ce.CloudEventError, match="JSON data"):
        ce.from_attributes(attributes, None)


def test_org_claims_must_match_the_authority() -> None:
    event = ce.from_structured(BASE | {"tenantid": "org-b"})
    event.check_org("org-b")
    with pytest.raises(ce.OrgClaimRefused, match="never from the event"):
        event.check_org("org-a")


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (BASE | {"specversion": "0.3"}, "not supported"),
        ({k: v for k, v in BASE.items() if k != "specversion"}, "no 'specversion'"),
        (BASE | {"source": ""}, "['source']"),
        (BASE | {"nested": {"a": 1}}, "string, number or boolean"),
        (BASE | {"UpperCase": "x"}, "not allowed"),
        (BASE | {"x" * 21: "x"}, "not allowed"),
        (BASE | {f"e{i}": "x" for i in range(40)}, "over the limit of 32"),
        (BASE | {"id": 5}, "must be a string"),
    ],
)
def test_malformed_events_are_refused_with_the_reason(event: dict, says: str) -> None:
    with pytest.raises(ce.CloudEventError, match=None) as caught:
        ce.from_structured(event)
    assert says in str(caught.value)


def test_batches_name_the_failing_event() -> None:
    assert len(ce.from_batch([BASE, BASE], 10)) == 2
    with pytest.raises(ce.CloudEventError, match="event 1: specversion"):
        ce.from_batch([BASE, BASE | {"specversion": "2.0"}], 10)
    with pytest.raises(ce.CloudEventError, match="over the limit of 1"):
        ce.from_batch([BASE, BASE], 1)
    with pytest.raises(ce.CloudEventError, match="JSON array"):
        ce.from_batch(BASE, 10)


def test_published_headers_are_kafka_binary_mode() -> None:
    headers = ce.binary_headers(id="i", source="s", type="io.playbooks.trigger.exception", time="2026-12-01T10:00:00Z")
    assert headers == {
        "ce_specversion": "1.0",
        "ce_id": "i",
        "ce_source": "s",
        "ce_type": "io.playbooks.trigger.exception",
        "ce_time": "2026-12-01T10:00:00Z",
        "content-type": "application/json",
    }
    assert ce.from_attributes(ce.binary_attributes(headers, ce.KAFKA_PREFIX) or {}, None).id == "i"


@pytest.mark.parametrize(("time", "subject"), [(None, None), ("2026-12-01T10:00:00Z", None), ("t", "sé")])
def test_wire_headers_are_the_binary_headers_encoded(time: str | None, subject: str | None) -> None:
    fields = {"id": "i-é", "source": "kafka:upstream", "type": "io.playbooks.trigger.exception"}
    wire = ce.binary_wire_headers(**fields, time=time, subject=subject)
    assert wire == [(k, v.encode()) for k, v in ce.binary_headers(**fields, time=time, subject=subject).items()]
