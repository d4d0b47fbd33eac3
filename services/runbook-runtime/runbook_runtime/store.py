"""The run folder: ``.runbook/runs/<run_id>/`` with ``trace.jsonl``, ``snapshots/``, ``attachments/``.

The trace is the run's history: every step result is one appended ``step_result`` line carrying its
place in the history (``index``). A snapshot holds the state without the history, and how many of
the trace's results it covers (``history_count``), so a snapshot costs the same at step 1,500 as at
step 1 (decision 0016). A kill -9 leaves at worst a result line no snapshot covers yet (ignored, the
step runs again on resume) or a torn last line (skipped; the next append starts on a fresh line).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, TextIO

import yaml

from playbooks_contracts.runbook import Runbook, parse_runbook

from .state import RunState, StepResult

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


class TraceCorrupt(ValueError):
    """A snapshot covers step results the trace does not hold."""


class RunFolder:
    """A Recorder writing to the file system; also reads runs back for resume and verify."""

    history_in_snapshots = False  # the trace holds the history: the engine leaves it out

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / "runs" / run_id
        self.trace_path = self.path / "trace.jsonl"
        self.snapshots = self.path / "snapshots"
        self.attachments = self.path / "attachments"
        self._trace: TextIO | None = None
        # how many step results the trace holds for the state being recorded (the next snapshot's count)
        self._results = 0

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

    def _open_trace(self) -> TextIO:
        """The trace, opened once for appending; a torn last line (a kill -9 mid-write) is closed first
        so the next record starts on a line of its own."""
        torn = False
        with contextlib.suppress(FileNotFoundError), self.trace_path.open("rb") as raw:
            if raw.seek(0, os.SEEK_END) > 0:
                raw.seek(-1, os.SEEK_END)
                torn = raw.read(1) != b"\n"
        f = self.trace_path.open("a", encoding="utf-8")
        if torn:
            f.write("\n")
        return f

    def event(self, record: dict[str, Any]) -> None:
        if self._trace is None:
            self._trace = self._open_trace()
        if record.get("event") == "step_result" and isinstance(record.get("index"), int):
            self._results = max(self._results, record["index"] + 1)
        # one write per record, flushed at once: what the process wrote survives its being killed
        self._trace.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self._trace.flush()

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()
            self._trace = None

    def snapshot(self, state: RunState, name: str) -> None:
        body = state.model_dump_json(exclude={"history"})
        body = f'{{"history_count":{self._results},{body[1:]}'
        tmp = self.snapshots / f".{name}.tmp"
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, self.snapshots / name)  # a crash never leaves a half-written snapshot

    def store_attachment(self, relpath: str, data: bytes) -> None:
        target = (self.path / relpath).resolve()
        if not target.is_relative_to(self.attachments.resolve()):
            raise ValueError(f"{relpath!r} escapes the attachments folder")
        target.write_bytes(data)

    def latest_state(self) -> RunState:
        """The last snapshot with its history read back from the trace (a snapshot written before
        decision 0016 holds its history itself)."""
        files = sorted(self.snapshots.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        if not files:
            raise FileNotFoundError(f"run folder {self.path} has no snapshot")
        raw = json.loads(files[-1].read_text(encoding="utf-8"))
        count = raw.pop("history_count", None)
        state = RunState.model_validate(raw)
        if count is not None:
            state.history = self.history(count)
        self._results = len(state.history)
        return state

    def history(self, count: int) -> list[StepResult]:
        """The first ``count`` step results: for each place, the last result the trace holds there
        (a result written after the last snapshot was retried on resume and appended again)."""
        found: dict[int, dict[str, Any]] = {}
        for record in self.trace():
            index = record.get("index")
            if record.get("event") == "step_result" and isinstance(index, int) and 0 <= index < count:
                found[index] = record["result"]
        missing = [i for i in range(count) if i not in found]
        if missing:
            raise TraceCorrupt(f"{self.trace_path} lacks step results {missing[:5]} that the snapshot counts")
        return [StepResult.model_validate(found[i]) for i in range(count)]

    def trace(self) -> list[dict[str, Any]]:
        """Every record; a line torn by a kill -9 mid-write is skipped (it never completed)."""
        if not self.trace_path.exists():
            return []
        records = []
        for line in self.trace_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records
