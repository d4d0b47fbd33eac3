"""The seeds' names in the contracts: folding, collisions, s3 paths, the seed-shaped answers."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from playbooks_contracts.recommendation import (
    ArtifactPublish,
    DocumentPublish,
    ExecutionFormat,
    Intent,
    ObjectKey,
    PublishRequest,
    SearchRequest,
    parameters_as_list,
    parameters_by_name,
    parse_s3_path,
    s3_path_of,
    seed_search_response,
)
from playbooks_contracts.seeds import (
    AliasCollision,
    check_order_is_position,
    claimed_tenant_error,
    fold_aliases,
    wants_seed_shape,
)


def test_fold_aliases_moves_seed_names_and_refuses_contradictions():
    assert fold_aliases({"code": "x", "a": 1}, {"code": "content"}) == {"content": "x", "a": 1}
    assert fold_aliases({"code": "x", "content": "x"}, {"code": "content"}) == {"content": "x"}
    with pytest.raises(AliasCollision, match=r"'code' .* and 'content' .* different values"):
        fold_aliases({"code": "x", "content": "y"}, {"code": "content"})
    assert fold_aliases(["not", "a", "dict"], {"code": "content"}) == ["not", "a", "dict"]


def test_step_order_must_be_the_position():
    check_order_is_position([1, None, 3])
    with pytest.raises(AliasCollision, match=r"steps\[1\].step_order is 1 but it is step 2"):
        check_order_is_position([1, 1])


def test_tenant_claims():
    assert claimed_tenant_error("acme", None) is None and claimed_tenant_error("acme", "acme") is None
    assert "'evil' is not the org of your token ('acme')" in claimed_tenant_error("acme", "evil")


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, False),
        ("application/json", False),
        ("application/vnd.playbooks.seed+json", True),
        ("application/json;q=0.5, Application/Vnd.Playbooks.Seed+JSON", True),
        ("application/vnd.playbooks.seed+json;q=0", False),
        ("application/vnd.playbooks.seed+json;q=x", False),
    ],
)
def test_accept(accept, wanted):
    assert wants_seed_shape(accept) is wanted


def test_s3_paths_name_files_and_refuse_traversal():
    assert parse_s3_path("s3://escher-tenant-data/tenants/abc123/playbooks/p-1/v1.2.0/shell/main.sh") == ObjectKey(
        "abc123", "p-1", "1.2.0", "shell/main.sh"
    )
    key = parse_s3_path(s3_path_of(None, "aws-rds-stop", "1.0.0", "python/main.py"))
    assert (key.tenant, key.format, key.entry_point) == (None, "python", "main.py")
    assert parse_s3_path(s3_path_of("t", "p1", "1.0.0", "metadata.json")).format is None
    for bad in (
        "s3://b-b/tenants/t/playbooks/p1/v1.0.0/../x",
        "s3://b-b/tenants/t/playbooks/p1/v1.0.0/%2e%2e/x",
        "s3://b-b/tenants/t/playbooks/p1/v1.0.0/a\\b",
        "s3://b-b/tenants/t/playbooks/p1/v1/x",
        "s3://B/tenants/t/playbooks/p1/v1.0.0/x",
        "/tenants/t/playbooks/p1/v1.0.0/x",
    ):
        with pytest.raises(ValueError):
            parse_s3_path(bad)


def test_publish_bodies_pick_their_kind():
    adapter = TypeAdapter(PublishRequest)
    body = {
        "playbook_id": "p1",
        "version": "1.0.0",
        "s3_paths": {"shell": "s3://b-b/tenants/t/playbooks/p1/v1.0.0/shell/a"},
    }
    assert isinstance(adapter.validate_python(body), ArtifactPublish)
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"metadata": {}})
    assert all(e["loc"][0] == "document" for e in err.value.errors())  # only the document's errors
    with pytest.raises(ValidationError, match=r"no path traversal"):
        adapter.validate_python({**body, "s3_paths": {"shell": "s3://b-b/tenants/t/playbooks/p1/v1.0.0/../../x"}})
    assert DocumentPublish.model_fields["tenant_id"]


def test_search_request_and_intent_in_the_seeds_shape():
    request = SearchRequest.model_validate(
        {"query": "stop rds", "tenant_id": "abc", "filters": {"cloud_provider": "aws", "sources": "escher_library"}}
    )
    assert request.filters.cloud_provider == ["aws"] and request.filters.sources == ["library"]
    seed = {
        "action": "stop",
        "cloud_provider": "aws",
        "resource_types": ["rds::instance"],
        "filters": {"environment": "production"},
        "use_case": "cost-optimization",
        "time_based": True,
        "keywords": ["weekend"],
    }
    intent = Intent.model_validate(seed)
    assert (intent.cloud_provider, intent.environment, intent.category) == (["aws"], "production", "cost-optimization")
    assert Intent.model_validate(intent.model_dump()) == intent  # its own answer reads back
    with pytest.raises(ValidationError, match=r"filters\.environment and environment"):
        Intent.model_validate({**seed, "environment": "staging"})


def test_parameters_and_scripts_both_ways():
    listed = [{"name": "a", "type": "string"}, {"name": "b", "type": "boolean", "default": False}]
    keyed = parameters_by_name(listed)
    assert keyed == {"a": {"type": "string"}, "b": {"type": "boolean", "default": False}}
    assert parameters_as_list(keyed) == listed
    assert ExecutionFormat.model_validate({"code": "echo", "entry_point": "main.sh"}).content == "echo"
    answer = {
        "query": "q",
        "intent": Intent(cloud_provider=["aws", "kubernetes"], category="backup").model_dump(mode="json"),
        "results": [
            {
                "source": "library",
                "metadata": {"author": "library", "created_at": "2024-09-14T16:00:00+00:00"},
                "parameters": listed,
                "stats": {"success_count": 3, "failure_count": 1, "success_rate": 0.75},
                "scripts": {"shell": {"content": "x", "code": "x", "entry_point": "m.sh", "s3_path": "s3://b/p"}},
            }
        ],
    }
    seed = seed_search_response(answer)
    assert seed["intent"]["cloud_provider"] == "aws" and seed["intent"]["cloud_providers"] == ["aws", "kubernetes"]
    assert seed["intent"]["use_case"] == "backup" and "category" not in seed["intent"]
    result = seed["results"][0]
    assert result["source"] == result["metadata"]["author"] == "escher_library"
    assert result["metadata"]["created_at"] == 1726329600 and result["metadata"]["based_on_escher"] is False
    assert result["metadata"]["execution_count"] == 4 and result["metadata"]["scripts"] == {"shell": "s3://b/p"}
    assert result["parameters"] == keyed and result["scripts"]["shell"] == {
        "code": "x",
        "entry_point": "m.sh",
        "s3_path": "s3://b/p",
    }
