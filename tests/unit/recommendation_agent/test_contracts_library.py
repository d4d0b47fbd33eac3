"""Playbook document contracts (strict) and the curated library that ships with the service."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from playbooks_contracts.recommendation import (
    SEARCHABLE_STATUSES,
    STATUSES,
    TRANSITIONS,
    ExecutionFormat,
    PlaybookDocument,
    sha256_of,
)
from recommendation_agent.library import load_library


def test_library_has_forty_complete_playbooks_across_clouds():
    library = load_library()
    assert len(library) >= 40
    providers = {p for pb in library for p in pb.document.metadata.cloud_provider}
    assert providers == {"aws", "azure", "gcp", "kubernetes"}
    categories = {pb.document.metadata.tags.category for pb in library}
    assert {"cost-optimization", "backup", "security", "maintenance"} <= categories
    for pb in library:
        doc = pb.document
        assert doc.metadata.author == "library" and doc.metadata.status == "active"
        assert doc.execution_formats.shell and doc.execution_formats.python, doc.metadata.playbook_id
        assert doc.execution_formats.shell.content.startswith("#!/usr/bin/env bash\nset -euo pipefail")
        compile(doc.execution_formats.python.content, doc.metadata.playbook_id, "exec")  # valid Python
        assert doc.explain_plan.what_happens and doc.explain_plan.success_criteria
        assert doc.parameters, doc.metadata.playbook_id
        assert doc.execution_formats.shell.checksum == sha256_of(doc.execution_formats.shell.content)


def _doc() -> dict:
    return copy.deepcopy(load_library()[0].raw)


def test_documents_are_strict_on_input():
    raw = _doc()
    PlaybookDocument.model_validate(raw)
    raw["metadata"]["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        PlaybookDocument.model_validate(raw)
    raw = _doc()
    raw["metadata"]["status"] = "live"
    with pytest.raises(ValidationError):
        PlaybookDocument.model_validate(raw)
    raw = _doc()
    raw["parameters"][0]["auto_fill_strategy"] = {"source": "crystal_ball"}
    with pytest.raises(ValidationError):
        PlaybookDocument.model_validate(raw)


def test_document_needs_a_format_or_a_runbook():
    raw = _doc()
    raw["execution_formats"] = {}
    with pytest.raises(ValidationError, match="at least one execution format"):
        PlaybookDocument.model_validate(raw)
    raw["runbook"] = {"meta": {"name": "x"}, "steps": []}
    PlaybookDocument.model_validate(raw)


def test_script_checksum_and_size_are_computed_and_checked():
    fmt = ExecutionFormat(content="echo hi\n", entry_point="main.sh")
    assert fmt.checksum == sha256_of("echo hi\n") and fmt.size_bytes == 8
    with pytest.raises(ValidationError, match="does not match"):
        ExecutionFormat(content="echo hi\n", entry_point="main.sh", checksum="sha256:" + "0" * 64)
    with pytest.raises(ValidationError, match="size_bytes"):
        ExecutionFormat(content="echo hi\n", entry_point="main.sh", size_bytes=3)
    with pytest.raises(ValidationError, match="checksum of an uploaded artifact"):
        ExecutionFormat(entry_point="main.sh")
    ExecutionFormat(entry_point="main.sh", checksum=sha256_of("x"))


def test_transition_table_covers_ten_statuses():
    assert len(STATUSES) == 10 and set(TRANSITIONS) == set(STATUSES)
    for targets in TRANSITIONS.values():
        assert set(targets) <= set(STATUSES)
    assert TRANSITIONS["archived"] == ()
    assert set(TRANSITIONS["pending_review"]) >= {"approved", "rejected"}
    assert set(SEARCHABLE_STATUSES) == {"active", "approved", "deprecated", "needs_update", "pending_review"}
