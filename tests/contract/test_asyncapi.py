"""The AsyncAPI 3.0 document: every registry topic, its key, messages, producers, consumers and DLQ."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from playbooks_contracts import ALL_TOPICS, Envelope
from playbooks_platform.contracts_export import DLQ_HEADERS, asyncapi_document

CONSUMER_SOURCE = Path(__file__).resolve().parents[2] / "libs/platform/playbooks_platform/bus/consumer.py"
KEY = re.compile(r"^[A-Za-z0-9_\-]+$")  # AsyncAPI 3.0: keys of channels, messages, operations
COMPONENT_KEY = re.compile(r"^[A-Za-z0-9.\-_]+$")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    # What is committed must equal this (test_generated_contracts); check the structure of the fresh one.
    return json.loads(json.dumps(asyncapi_document()))  # type: ignore[no-any-return]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external reference {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_document_shape(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"]["kafka"]["protocol"] == "kafka"
    assert all(KEY.match(k) for k in doc["channels"]), "channel keys"
    assert all(KEY.match(k) for k in doc["operations"]), "operation keys"
    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(k) for k in doc["components"][section]), section
    for channel in doc["channels"].values():
        assert all(KEY.match(k) for k in channel["messages"])


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    found = list(refs(doc))
    assert len(found) > 50
    for ref in found:
        resolve(doc, ref)


def test_every_topic_and_its_dead_letter_topic_is_a_channel(doc: dict[str, Any]) -> None:
    by_address = {c["address"]: c for c in doc["channels"].values()}
    assert len(by_address) == 2 * len(ALL_TOPICS)
    for topic in ALL_TOPICS:
        channel = by_address[topic.name]
        assert channel["description"] == topic.description
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        assert channel["x-key"] == topic.key
        assert resolve(doc, channel["x-dead-letter-channel"]["$ref"])["address"] == topic.dlq
        expected = sorted(topic.data_models) if topic.raw_model is None else [topic.raw_model.__name__]  # type: ignore[union-attr]
        assert sorted(m["name"] for m in (resolve(doc, r["$ref"]) for r in channel["messages"].values())) == expected
        for message in (resolve(doc, r["$ref"]) for r in channel["messages"].values()):
            assert message["bindings"]["kafka"]["key"]["type"] == "string"
            assert topic.key in message["bindings"]["kafka"]["key"]["description"]


def test_operations_name_every_producer_and_consumer(doc: dict[str, Any]) -> None:
    ops = doc["operations"]
    for op in ops.values():
        assert op["action"] in ("send", "receive")
        channel_ref = op["channel"]["$ref"]
        resolve(doc, channel_ref)
        for message in op["messages"]:  # AsyncAPI 3: an operation's messages belong to its channel
            assert message["$ref"].startswith(channel_ref + "/messages/")
            resolve(doc, message["$ref"])
    for topic in ALL_TOPICS:
        on_topic = [o for o in ops.values() if resolve(doc, o["channel"]["$ref"])["address"] == topic.name]
        assert sorted(o["x-service"] for o in on_topic if o["action"] == "send") == sorted(topic.producers)
        assert sorted(o["x-service"] for o in on_topic if o["action"] == "receive") == sorted(topic.consumers)
        to_dlq = [o for o in ops.values() if resolve(doc, o["channel"]["$ref"])["address"] == topic.dlq]
        assert sorted(o["x-service"] for o in to_dlq) == sorted(topic.consumers), "consumers dead-letter"


def test_dead_letter_headers_are_those_the_consumer_writes(doc: dict[str, Any]) -> None:
    written = set(re.findall(r'"(dlq\.[a-z_]+)"', CONSUMER_SOURCE.read_text()))
    assert written == set(DLQ_HEADERS)
    headers = doc["components"]["messages"]["DeadLetter"]["headers"]
    assert set(DLQ_HEADERS) <= set(headers["properties"]) and "traceparent" in headers["properties"]


def test_payload_schemas_validate_real_messages(doc: dict[str, Any]) -> None:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:asyncapi", Resource(doc, specification=DRAFT202012))

    def errors(message_ref: str, value: dict[str, Any]) -> list[str]:
        payload = resolve(doc, message_ref)["payload"]["$ref"]
        schema = {"$ref": "urn:asyncapi" + payload}
        return [e.message for e in jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(value)]

    trigger = Envelope(
        type="exception", org_id="acme", data={"domain": "Finance", "exception_type": "x", "severity": "high"}
    )
    channel = next(c for c in doc["channels"].values() if c["address"] == "triggers.v1")
    assert errors(channel["messages"]["exception"]["$ref"], trigger.model_dump(mode="json")) == []
    assert errors(channel["messages"]["activity_event"]["$ref"], trigger.model_dump(mode="json"))
