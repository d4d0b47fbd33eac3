"""The committed AsyncAPI document validates against the AsyncAPI Initiative's own 3.0.0 schema.

The schema is vendored (``fixtures/asyncapi-specs``, Apache-2.0, from npm ``@asyncapi/specs``):
every definition it references is bundled in it under its own ``$id``, so nothing is fetched.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

HERE = Path(__file__).resolve().parent
OFFICIAL = HERE / "fixtures/asyncapi-specs/3.0.0.json"
COMMITTED = HERE.parents[1] / "proto-contracts/asyncapi.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(OFFICIAL.read_text())
    # Each bundled definition answers to its $id (http://asyncapi.com/definitions/3.0.0/...).
    resources = [(d["$id"], Resource(d, specification=DRAFT7)) for d in schema["definitions"].values() if "$id" in d]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(schema, registry=registry)


def errors(validator: jsonschema.Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(doc)]


def test_committed_asyncapi_document_is_valid_asyncapi_3(validator: jsonschema.Draft7Validator) -> None:
    doc = json.loads(COMMITTED.read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert errors(validator, doc) == []


def test_the_official_schema_catches_what_a_shape_check_would_miss(validator: jsonschema.Draft7Validator) -> None:
    """The validation is real: a document broken in ways the spec forbids fails."""
    doc = json.loads(COMMITTED.read_text())
    broken = copy.deepcopy(doc)
    operation = next(iter(broken["operations"].values()))
    operation["action"] = "publish"  # AsyncAPI 2's verb; 3.0 knows only send and receive
    assert errors(validator, broken)
    broken = copy.deepcopy(doc)
    broken["channels"][next(iter(broken["channels"]))]["address"] = 42
    assert errors(validator, broken)
    broken = copy.deepcopy(doc)
    broken["info"]["x_not_an_extension"] = True
    assert errors(validator, broken)
