"""The run folder: ``.runbook/runs/<run_id>/`` with ``trace.jsonl``, ``snapshots/``, ``attachments/``.

The trace is the run's history: every step result is one appended ``step_result`` line carrying its
place in the history (``index``). A snapshot holds the state without the history, and how many of
the trace's results it covers (``history_count``), so a snapshot costs the same at step 1,500 as at
step 1 (decision 0016).

Snapshots are whole files (``snapshots/step-NNNN.json``) where a person looks (a run's start, where
it stops, a snapshot asked for by name) and, between those, deltas appended to
``snapshots/journal.jsonl`` (decision 0030): one line per snapshot holding what changed, so a step
costs one ``write`` however large the state. The journal also names each whole file once it is in
place (``{"full": name, "seq": n}``): the state is the last named file plus the deltas after it.

A kill -9 leaves at worst a result line no snapshot covers yet (ignored, the step runs again on
resume), a torn last line in the trace or the journal (skipped; the next append starts on a fresh
line), or a whole file the journal does not name yet (ignored: the deltas before it rebuild the same
state less its last step, which runs again). Nothing is fsynced per record: a killed process loses
nothing it wrote (the kernel holds it). ``close`` fsyncs both files, so a command that returned has
its run on disk; a power cut mid-command loses its last records, and resume starts from the last
snapshot whose results the trace still holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from .journal import Op, apply_ops
from .state import RunState, StepResult

RUN_ID_NAMESPACE = uuid.UUID("0b6f7c1e-3a44-4c8e-9a0e-5f2b1d7f9e21")
JOURNAL = "journal.jsonl"
# Journal bytes since the last whole snapshot before the next one is whole again: at least this, and
# at least that file's size, so each whole write is paid for by as many journal bytes (amortised, a
# step writes about its delta twice) and a resume reads at most about twice the state.
JOURNAL_SPAN_BYTES = 1 << 20


def run_id_for(idempotency_key: str) -> str:
    """The same idempotency key always names the same run."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, idempotency_key))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


class TraceCorrupt(ValueError):
    """A snapshot covers step results the trace does not hold."""


def _append(path: Path) -> TextIO:
    """``path`` opened once for appending; a torn last line (a kill -9 mid-write) is closed first so
    the next record starts on a line of its own."""
    torn = False
    with contextlib.suppress(FileNotFoundError), path.open("rb") as raw:
        if raw.seek(0, os.SEEK_END) > 0:
            raw.seek(-1, os.SEEK_END)
            torn = raw.read(1) != b"\n"
    f = path.open("a", encoding="utf-8")
    if torn:
        f.write("\n")
    return f


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file; a line torn by a kill -9 mid-write is skipped (it never completed)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


class RunFolder:
    """A Recorder writing to the file system; also reads runs back for resume and verify."""

    history_in_snapshots = False  # the trace holds the history: the engine leaves it out

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / "runs" / run_id
        self.trace_path = self.path / "trace.jsonl"
        self.snapshots = self.path / "snapshots"
        self.journal_path = self.snapshots / JOURNAL
        self.attachments = self.path / "attachments"
        self._trace: TextIO | None = None
        self._journal: TextIO | None = None
        # how many step results the trace holds for the state being recorded (the next snapshot's count)
        self._results = 0
        self._seq = 0  # the number of the last snapshot this folder's journal holds
        # a delta extends the whole snapshot this process wrote last (None: none yet, the next is whole)
        self._whole_bytes: int | None = None
        self._span = 0  # journal characters since that whole snapshot

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
        if self._trace is None:
            self._trace = _append(self.trace_path)
        if record.get("event") == "step_result" and isinstance(record.get("index"), int):
            self._results = max(self._results, record["index"] + 1)
        # one write per record, flushed at once: what the process wrote survives its being killed
        self._trace.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self._trace.flush()

    def _journal_write(self, record: dict[str, Any]) -> int:
        if self._journal is None:
            self._journal = _append(self.journal_path)
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        self._journal.write(line)
        self._journal.flush()
        return len(line)

    def close(self) -> None:
        """Flush the trace and the journal to disk (one fsync each per command, never per record)."""
        for f in (self._trace, self._journal):
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
                f.close()
        self._trace = self._journal = None

    def snapshot(self, state: RunState, name: str) -> None:
        """A whole snapshot: the state (no history) in its own file, then named in the journal."""
        body = state.model_dump_json(exclude={"history"})
        body = f'{{"history_count":{self._results},{body[1:]}'
        tmp = self.snapshots / f".{name}.tmp"
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, self.snapshots / name)  # a crash never leaves a half-written snapshot
        self._seq += 1
        self._journal_write({"full": name, "seq": self._seq})
        self._whole_bytes, self._span = len(body), 0

    def journal(self, ops: list[Op], name: str) -> bool:
        """Append a delta snapshot (``ops`` since the last snapshot, already redacted). False, writing
        nothing, when the next snapshot should be whole: none yet in this process, or the deltas since
        the last whole one add up to more than it (see ``JOURNAL_SPAN_BYTES``)."""
        if self._whole_bytes is None or self._span > max(JOURNAL_SPAN_BYTES, self._whole_bytes):
            return False
        record = {"seq": self._seq + 1, "name": name, "history_count": self._results, "ops": ops}
        self._span += self._journal_write(record)
        self._seq += 1
        return True

    def store_attachment(self, relpath: str, data: bytes) -> None:
        target = (self.path / relpath).resolve()
        if not target.is_relative_to(self.attachments.resolve()):
            raise ValueError(f"{relpath!r} escapes the attachments folder")
        target.write_bytes(data)

    # -- reading back ---------------------------------------------------------------------------

    def latest_state(self) -> RunState:
        """The last snapshot with its history read back from the trace (a snapshot written before
        decision 0016 holds its history itself). With a journal: the last whole file it names and the
        deltas after it, up to the last one whose step results the trace holds."""
        results = self._trace_results()
        records = _lines(self.journal_path)
        self._seq = max((r["seq"] for r in records if isinstance(r.get("seq"), int)), default=0)
        start = self._last_whole(records)
        if start is None:
            raw = self._read_latest_file()
        else:
            held = next((i for i in range(len(results) + 1) if i not in results), len(results))
            raw, _ = self._rebuild(records, start, stop=lambda r: r.get("history_count", 0) > held)
        count = raw.pop("history_count", None)
        state = RunState.model_validate(raw)
        if count is not None:
            state.history = self._history(results, count)
        self._results = len(state.history)
        return state

    def history(self, count: int) -> list[StepResult]:
        """The first ``count`` step results (see ``_history``)."""
        return self._history(self._trace_results(), count)

    def _trace_results(self) -> dict[int, dict[str, Any]]:
        """For each place in the history, the last result the trace holds there (a result written
        after the last snapshot was retried on resume and appended again)."""
        found: dict[int, dict[str, Any]] = {}
        for record in self.trace():
            index = record.get("index")
            if record.get("event") == "step_result" and isinstance(index, int) and index >= 0:
                found[index] = record["result"]
        return found

    def _history(self, found: dict[int, dict[str, Any]], count: int) -> list[StepResult]:
        missing = [i for i in range(count) if i not in found]
        if missing:
            raise TraceCorrupt(f"{self.trace_path} lacks step results {missing[:5]} that the snapshot counts")
        return [StepResult.model_validate(found[i]) for i in range(count)]

    def _read_latest_file(self) -> dict[str, Any]:
        """A run folder without a journal (written before decision 0030): its newest snapshot file."""
        files = sorted(self.snapshots.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        if not files:
            raise FileNotFoundError(f"run folder {self.path} has no snapshot")
        raw: dict[str, Any] = json.loads(files[-1].read_text(encoding="utf-8"))
        return raw

    def _last_whole(self, records: list[dict[str, Any]]) -> int | None:
        """The journal position of the last whole snapshot it names whose file is there."""
        for i in range(len(records) - 1, -1, -1):
            name = records[i].get("full")
            if isinstance(name, str) and "/" not in name and (self.snapshots / name).is_file():
                return i
        return None

    def _rebuild(
        self,
        records: list[dict[str, Any]],
        start: int,
        stop: Callable[[dict[str, Any]], bool] = lambda r: False,
        upto: int | None = None,
    ) -> tuple[dict[str, Any], int]:
        """(state, position): the whole snapshot named at ``start`` with the deltas after it applied
        in order, ending at ``upto``, before a gap in the numbering, or before a delta ``stop`` refuses."""
        raw: dict[str, Any] = json.loads((self.snapshots / records[start]["full"]).read_text(encoding="utf-8"))
        seq, at = records[start].get("seq"), start
        end = len(records) if upto is None else upto + 1
        for i in range(start + 1, end):
            record = records[i]
            if "ops" not in record or not isinstance(seq, int) or record.get("seq") != seq + 1 or stop(record):
                break
            apply_ops(raw, record["ops"])
            raw["history_count"] = record.get("history_count", raw.get("history_count"))
            seq, at = record["seq"], i
        return raw, at

    def snapshot_names(self) -> list[str]:
        """Every snapshot taken, in order: whole files and deltas alike (a name may come again when a
        step ran again on resume)."""
        records = _lines(self.journal_path)
        if not records:
            files = sorted(self.snapshots.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
            return [p.name for p in files]
        return [r["full"] if "full" in r else r["name"] for r in records if "full" in r or "name" in r]

    def read_snapshot(self, name: str) -> dict[str, Any]:
        """The snapshot ``name`` as a whole file holds it (``history_count`` and the state without its
        history), rebuilt from the journal when it was a delta; the last one of that name."""
        records = _lines(self.journal_path)
        for i in range(len(records) - 1, -1, -1):
            if records[i].get("full") == name and (self.snapshots / name).is_file():
                return dict(json.loads((self.snapshots / name).read_text(encoding="utf-8")))
            if records[i].get("name") == name and "ops" in records[i]:
                start = self._last_whole(records[:i])
                if start is None:
                    break
                raw, at = self._rebuild(records, start, upto=i)
                if at == i:
                    return raw
                break
        path = self.snapshots / name
        if "/" in name or not path.is_file():
            raise FileNotFoundError(f"run folder {self.path} has no snapshot {name!r}")
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def trace(self) -> list[dict[str, Any]]:
        """Every record; a line torn by a kill -9 mid-write is skipped (it never completed)."""
        return _lines(self.trace_path)
