"""The interactive step debugger: a prompt over an ``Engine`` (``runbook debug``)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .engine import Engine, EngineError, verify
from .governance import GovernanceError
from .state import StepResult

HELP = """commands:
  next                         run / complete the current step
  continue                     run until a manual step waits, a failure, a breakpoint or the end
  break STEP_ID                stop `continue` before that step (again to remove)
  dump                         the whole run state (JSON)
  print vars | print captures  variables / captures so far
  print artifacts              the run's artifact bundle (created / reused, links)
  history                      the step results so far
  evidence set NAME VALUE      text evidence, or tick a checklist item
  evidence check               what the current manual step still needs
  evidence attach NAME PATH    copy a file into the run folder as evidence
  approve --as NAME [--role R] approve the current manual step (recorded as unverified)
  confirm --as NAME [--role R] confirm the checkpoint the run waits at (not the requester)
  plan                         what a dry-run of the rest of the run would do
  snapshot                     write a snapshot now
  verify                       what keeps the run from being complete
  help | quit"""


class Debugger:
    def __init__(self, engine: Engine, out: Callable[[str], None], prompt: str = "(runbook) ") -> None:
        self.engine = engine
        self.out = out
        self.prompt = prompt
        self.snapshots = 0

    def _where(self) -> str:
        step = self.engine.current()
        if step is None:
            return f"run {self.engine.state.run_id} finished: {self.engine.state.status}"
        return f"at step {self.engine.state.current_step_index + 1}/{len(self.engine.steps)}: {step.id} ({step.type})"

    def _show(self, result: StepResult) -> None:
        line = f"{result.step_id}: {result.status}"
        if result.error:
            line += f" - {result.error}"
        self.out(line)

    def _waiting(self) -> None:
        step = self.engine.current()
        if step is not None and step.checkpoint and self.engine.state.checkpoint_plan is not None:
            self.out(f"checkpoint {step.id}: {getattr(step, 'title', '')}; the rest of the run would do:")
            for p in self.engine.state.checkpoint_plan:
                detail = " ".join(p["argv"]) if "argv" in p else "; ".join(p.get("pauses_for", []))
                self.out(f"  {p['step_id']} ({p['type']}): {detail} [{p['verdict']}]")
            self.out(f"waiting for: {', '.join(self.engine.waiting_for(step))} (confirm --as NAME)")
        else:
            self.out(f"waiting for evidence: {', '.join(self.engine.waiting_for(step))}")

    def _artifacts(self) -> None:
        bundle = self.engine.state.artifacts
        if not bundle:
            self.out("no artifact yet")
        for a in self.engine.redact.tree([a.model_dump(mode="json") for a in bundle]):
            line = f"{a['name']} {a['signature']}: {a['status']} by step {a['step_id']} (run {a['run_id']})"
            self.out(line + (f" <- {', '.join(a['links'])}" if a["links"] else ""))

    def loop(self, stdin: IO[str]) -> int:
        self.out(self._where())
        while True:
            self.out(self.prompt)
            line = stdin.readline()
            if not line:
                return 0 if self.engine.state.status == "passed" else 1
            try:
                if self.handle(line.strip()) is False:
                    return 0 if self.engine.state.status == "passed" else 1
            except (EngineError, GovernanceError, ValueError, OSError) as exc:
                self.out(f"error: {exc}")

    def _next(self) -> None:
        result = self.engine.next()
        if result is None:
            self._waiting()
        else:
            self._show(result)
        self.out(self._where())

    def _continue(self) -> None:
        e = self.engine
        for result in e.continue_():
            self._show(result)
        if e.state.status == "waiting" and e.current() is not None:
            self._waiting()
        self.out(self._where())

    def _toggle_breakpoint(self, step_id: str) -> None:
        e = self.engine
        bps = e.state.breakpoints
        if step_id in bps:
            bps.remove(step_id)
        elif step_id in {s.id for s in e.steps}:
            bps.append(step_id)
        else:
            raise EngineError(f"no step {step_id!r}")
        self.out(f"breakpoints: {', '.join(bps) or 'none'}")

    def _attach(self, name: str, path: Path) -> None:
        att = self.engine.attach(name, path.name, path.read_bytes())
        self.out(f"attached {att.path} sha256={att.sha256} size={att.size}")

    def handle(self, line: str) -> bool | None:
        words = shlex.split(line)
        if not words:
            return None
        cmd, args = words[0], words[1:]
        e = self.engine
        if cmd in ("quit", "exit", "q"):
            return False
        if cmd in ("help", "h", "?"):
            self.out(HELP)
        elif cmd in ("next", "n"):
            self._next()
        elif cmd in ("continue", "c"):
            self._continue()
        elif cmd == "break" and len(args) == 1:
            self._toggle_breakpoint(args[0])
        elif cmd == "dump":
            self.out(e.redact.model(e.state).model_dump_json(indent=2))
        elif cmd == "print" and args in (["vars"], ["captures"]):
            self.out(json.dumps(e.redact.tree(getattr(e.state, args[0])), indent=2, ensure_ascii=False))
        elif cmd == "print" and args == ["artifacts"]:
            self._artifacts()
        elif cmd == "plan":
            self.out(json.dumps(e.redact.tree(e.plan(start=e.state.current_step_index)), indent=2))
        elif cmd == "confirm" and len(args) >= 2 and args[0] == "--as":
            role = args[args.index("--role") + 1] if "--role" in args else "confirmer"
            # like approve: a name typed at a local prompt proves nothing, so it is kept as unverified
            e.confirm(args[1], role, via="unverified")
            self.out(f"checkpoint confirmed by {args[1]} as {role} (unverified)")
        elif cmd == "history":
            for r in e.state.history:
                self._show(r)
            if not e.state.history:
                self.out("no step has run yet")
        elif cmd == "evidence" and args[:1] == ["set"] and len(args) >= 3:
            e.set_evidence(args[1], " ".join(args[2:]))
            self.out(f"evidence {args[1]} recorded")
        elif cmd == "evidence" and args == ["check"]:
            missing = e.waiting_for(e.current())
            self.out("evidence complete" if not missing else f"missing: {', '.join(missing)}")
        elif cmd == "evidence" and args[:1] == ["attach"] and len(args) == 3:
            self._attach(args[1], Path(args[2]))
        elif cmd == "approve" and len(args) >= 2 and args[0] == "--as":
            role = args[args.index("--role") + 1] if "--role" in args else _default_role(e)
            # a name typed at a local prompt proves nothing: the approval is kept as unverified
            e.approve(args[1], role, via="unverified")
            self.out(f"approved by {args[1]} as {role} (unverified)")
        elif cmd == "snapshot":
            self.snapshots += 1
            name = f"step-{len(e.state.history):04d}-manual-{self.snapshots}.json"
            self.out(f"snapshot {e.snapshot(name)}")
        elif cmd == "verify":
            problems = verify(e.runbook, e.state)
            self.out("\n".join(problems) if problems else "all required steps satisfied")
        else:
            self.out(f"unknown command {line!r}; type help")
        return None


def _default_role(engine: Engine) -> str:
    step = engine.current()
    roles = getattr(getattr(step, "approvals", None), "roles", None)
    if not roles:
        return "approver"
    if len(roles) > 1:
        raise EngineError(f"give --role (one of {', '.join(roles)})")
    return str(roles[0])
