"""The curated global library: package data, one folder per playbook (playbook.json, main.sh, main.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from playbooks_contracts.recommendation import PlaybookDocument

LIBRARY_VERSION = "1.0.0"
LIBRARY_DATE = datetime(2026, 11, 1, tzinfo=UTC)
LIBRARY_TENANT = "_library"  # never a valid org id: library points and artifacts


@dataclass(frozen=True)
class LibraryPlaybook:
    document: PlaybookDocument
    raw: dict[str, Any] = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.document.metadata.playbook_id, self.document.metadata.version


def _load_one(folder: Any) -> LibraryPlaybook:
    spec = json.loads((folder / "playbook.json").read_text())
    permissions = spec.pop("permissions", [])
    py_deps = spec.pop("python_dependencies", {})
    meta = spec["metadata"]
    meta.setdefault("playbook_id", folder.name)
    meta.setdefault("version", LIBRARY_VERSION)
    meta.setdefault("author", "library")
    meta.setdefault("storage_strategy", "using_default")
    meta.setdefault("status", "active")
    meta.setdefault("created_at", LIBRARY_DATE.isoformat())
    meta.setdefault("updated_at", LIBRARY_DATE.isoformat())
    spec["execution_formats"] = {
        "shell": {
            "content": (folder / "main.sh").read_text(),
            "entry_point": "main.sh",
            "dependencies": ["bash"],
            "permissions_required": permissions,
        },
        "python": {
            "content": (folder / "main.py").read_text(),
            "entry_point": "main.py",
            "dependencies": py_deps,
            "permissions_required": permissions,
        },
    }
    document = PlaybookDocument.model_validate(spec)
    return LibraryPlaybook(document=document, raw=document.model_dump(mode="json"))


@cache
def load_library() -> tuple[LibraryPlaybook, ...]:
    """Every library playbook, validated against the contracts (a bad file fails start-up, loudly)."""
    root = resources.files("recommendation_agent") / "library"
    folders = sorted(
        (f for f in root.iterdir() if f.is_dir() and (f / "playbook.json").is_file()), key=lambda f: f.name
    )
    return tuple(_load_one(f) for f in folders)


@cache
def library_by_key() -> dict[tuple[str, str], LibraryPlaybook]:
    return {p.key: p for p in load_library()}
