"""The run folder: ``.runbook/runs/<run_id>/`` with ``trace.jsonl``, ``snapshots/``, ``attachments/``."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml

from playbooks_contracts.runbook import Runbook, parse_runbook

from .state import RunState

RUN_ID_NAMESPACE = uuid.UUID("0b6f7c1e-3a44-4c8e-9a0e-5f2b1d7f9e21")


def run_id_for(idempotency_key: str) -> str:
    """The same idempotency key always names the same run."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, idempotency_key))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_runbook(path: Path) -> tuple[Runbook, str]:
    """The validated runbook and its raw text (for the digest)."""
    raw = path.read_text()
    return parse_runbook(yaml.safe_load(raw)), raw


class RunFolder:
    """A Recorder writing to the file system; also reads runs back for resume and verify."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / "runs" / run_id
        self.trace_path = self.path / "trace.jsonl"
        self.snapshots = self.path / "snapshots"
        self.attachments = self.path / "attachments"

    def create(self) -> RunFolder:
        for d in (self.snapshots, self.attachments):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def remove(self) -> None:
        """Delete a run folder that holds no snapshot yet (a run refused before it started)."""
        if self.path.is_dir() and not any(self.snapshots.glob("*.json")):
            shutil.rmtree(self.path)

    def exists(self) -> bool:
        return self.snapshots.is_dir() and any(self.snapshots.glob("*.json"))

    def event(self, record: dict[str, Any]) -> None:
        with self.trace_path.open("a") as f:
            f.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")

    def snapshot(self, state: RunState, name: str) -> None:
        tmp = self.snapshots / f".{name}.tmp"
        tmp.write_text(state.model_dump_json())
        os.replace(tmp, self.snapshots / name)  # a crash never leaves a half-written snapshot

    def store_attachment(self, relpath: str, data: bytes) -> None:
        target = (self.path / relpath).resolve()
        if not target.is_relative_to(self.attachments.resolve()):
            raise ValueError(f"{relpath!r} escapes the attachments folder")
        target.write_bytes(data)

    def latest_state(self) -> RunState:
        files = sorted(self.snapshots.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        if not files:
            raise FileNotFoundError(f"run folder {self.path} has no snapshot")
        return RunState.model_validate_json(files[-1].read_text())

    def trace(self) -> list[dict[str, Any]]:
        if not self.trace_path.exists():
            return []
        return [json.loads(line) for line in self.trace_path.read_text().splitlines() if line.strip()]
