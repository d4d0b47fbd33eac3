"""A local run folder grows by a bounded amount per step, whatever a runbook's steps print.

A step's output is kept as its head and tail (the sandbox's bounds); its snapshot is a delta holding
what the step changed (decision 0030), never the captures of the steps before it. So a step that
prints megabytes adds about the bounds to the trace and to the journal, at step 2 as at step 20.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from playbooks_contracts.runbook import parse_runbook
from runbook_runtime.engine import Engine, new_state
from runbook_runtime.settings import SandboxSettings
from runbook_runtime.store import RunFolder

STEPS = 12
LINES = 400_000  # `seq` prints about 2.7 MB


def test_huge_outputs_add_a_bounded_amount_per_step(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "loud",
            "governance": {"allowed_commands": ["seq"], "evidence": {"store_full_stdout": True}},
        },
        "steps": [
            {"id": f"s{i}", "type": "cli", "with": {"argv": ["seq", "1", str(LINES)]}, "capture": {f"c{i}": "stdout"}}
            for i in range(STEPS)
        ],
    }
    rb = parse_runbook(doc)
    state = new_state(rb, run_id="loud", runbook_path="rb.yaml", digest="d", mode="real", actor="t", env={})
    folder = RunFolder(tmp_path, "loud").create()
    engine = Engine(rb, state, folder)
    trace_after: list[int] = []
    journal_after: list[int] = []
    for _ in range(STEPS):
        engine.next()
        trace_after.append(folder.trace_path.stat().st_size)
        journal_after.append(folder.journal_path.stat().st_size)
    folder.close()
    assert engine.state.status == "passed"

    settings = SandboxSettings()
    # what a stream keeps of its output, as JSON (`seq` prints a newline every 7 bytes: escaped, 2)
    kept = (settings.output_head_bytes + settings.output_tail_bytes) * 5 // 4
    assert all(engine.state.history[i].evidence["truncated"] for i in range(STEPS))
    # the trace: the step's result (stdout in full as kept, its capture as kept), nothing older
    trace_growth = [b - a for a, b in pairwise(trace_after)]
    assert max(trace_growth) < 2 * kept + 8_192
    assert max(trace_growth) - min(trace_growth) < 1_024  # step 2 costs what step 12 costs
    # the journal: a step's delta holds its one new capture, never the captures before it
    lines = folder.journal_path.read_text().splitlines()
    deltas = [len(line.encode()) for line in lines if '"ops"' in line]
    assert len(deltas) >= STEPS // 2 and max(deltas) < kept + 4_096
    assert max(deltas) - min(deltas) < 1_024
    for line in lines:
        record = json.loads(line)
        assert len([op for op in record.get("ops", []) if op[1][0] == "captures"]) <= 1
    # whole snapshots where the run started and stopped, and when the deltas outweigh the last one
    assert len(list(folder.snapshots.glob("*.json"))) <= 4
    total = sum(p.stat().st_size for p in folder.path.rglob("*") if p.is_file())
    assert total < STEPS * 5 * kept
