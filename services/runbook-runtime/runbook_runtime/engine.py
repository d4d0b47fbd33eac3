"""The deterministic state machine over a runbook's steps; usable without HTTP or a database.

The engine owns a ``RunState`` and reports everything it does to a ``Recorder`` (the run folder for
the CLI, rows in PostgreSQL for the service). ``next`` executes or completes one step, ``continue_``
advances until a manual step waits, a step fails, a breakpoint is hit or the run ends.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from playbooks_contracts import patterns
from playbooks_contracts.command_policy import Layer, layers_for
from playbooks_contracts.policy import ApprovalFloor
from playbooks_contracts.runbook import CheckpointStep, CliStep, Leaf, ManualStep, Runbook
from playbooks_platform.backoff import jittered

from .artifacts import ArtifactRegistry
from .executor import Runner, Transcript, real_runner, replay_runner
from .governance import GovernanceError, child_env, command_policy, render, render_argv, resolve_vars, summarise
from .journal import Op, StateDiff
from .limits import Limits
from .redaction import Redactor
from .scenario import Replayer, ReplayMismatch, Scenario
from .state import (
    CLOSED,
    Approval,
    ApprovedVia,
    Artifact,
    Attachment,
    ErrorKind,
    Mode,
    RunState,
    RunStatus,
    StepEvidence,
    StepResult,
    now,
)

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_SIGNATURE_CHARS = 500
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Recorder(Protocol):
    def event(self, record: dict[str, Any]) -> None: ...

    def snapshot(self, state: RunState, name: str) -> str | None:
        """Keep the state under ``name``; may return the name it was kept under instead.

        A recorder whose ``history_in_snapshots`` is False is given the state without its history
        (it keeps the history elsewhere), so a snapshot costs the same at step 1,500 as at step 1.
        """

    def store_attachment(self, relpath: str, data: bytes) -> None: ...


@runtime_checkable
class DeltaRecorder(Protocol):
    """A recorder that also keeps a step's snapshot as the operations since the last one."""

    def journal(self, ops: list[Op], name: str) -> bool:
        """Keep the delta under ``name``; False (nothing kept) when the next snapshot should be whole."""


class NullRecorder:
    """Records nothing (dry-run plans, verification probes)."""

    history_in_snapshots = False

    def event(self, record: dict[str, Any]) -> None:
        pass

    def snapshot(self, state: RunState, name: str) -> None:
        pass

    def store_attachment(self, relpath: str, data: bytes) -> None:
        raise EngineError("this run stores no attachments")


def refuse_to_run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
    """The runner of an engine that must execute nothing: dry-run plans, run summaries, verification probes."""
    raise EngineError("nothing runs here: a dry-run or a check executes no command")


class EngineError(Exception):
    """A request the run cannot honour in its current state (bad evidence name, finished run, ...)."""


class EngineConflict(EngineError):
    """The request collides with what the run already holds (a second upload, an ended run): 409."""


class EngineRefused(EngineError):
    """The caller may not do this to this run (approving her own run): 403."""


@dataclass(frozen=True)
class Gate:
    """The approvals a manual step needs: ``min`` distinct people, each holding one of ``floor_roles``
    (the org's) and one of ``step_roles`` (the runbook's); an empty list accepts any role."""

    min: int
    floor_roles: tuple[str, ...] = ()
    step_roles: tuple[str, ...] = ()

    def accepts(self, roles: Iterable[str]) -> bool:
        held = set(roles)
        return (not self.floor_roles or bool(held & set(self.floor_roles))) and (
            not self.step_roles or bool(held & set(self.step_roles))
        )

    def describe(self) -> str:
        parts = ["/".join(r) for r in (self.floor_roles, self.step_roles) if r]
        return " and ".join(parts) or "any role"


def runbook_digest(raw: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(raw.encode() if isinstance(raw, str) else raw).hexdigest()


def safe_filename(name: str) -> str:
    """A bare file name for the run folder: no directories, no ``..``, no hidden files."""
    base = _SAFE_NAME.sub("_", os.path.basename(name.replace("\\", "/"))).lstrip(".")
    if not base:
        raise EngineError(f"attachment name {name!r} is not a usable file name")
    return base[:120]


def new_state(
    runbook: Runbook,
    *,
    run_id: str,
    runbook_path: str,
    digest: str,
    mode: Mode,
    actor: str,
    vars_: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> RunState:
    governance = runbook.meta.governance
    values = resolve_vars(runbook.meta.defaults(), vars_ or {}, governance, dict(os.environ) if env is None else env)
    return RunState(
        run_id=run_id, runbook_path=runbook_path, runbook_digest=digest, mode=mode, actor=actor, vars=values
    )


class Engine:
    def __init__(
        self,
        runbook: Runbook,
        state: RunState,
        recorder: Recorder,
        *,
        scenario: Scenario | None = None,
        scenario_dir: Path | None = None,
        replay_evidence: dict[str, Any] | None = None,
        runner: Runner | None = None,
        sleep: Any = time.sleep,
        limits: Limits | None = None,
        approval_floor: ApprovalFloor | None = None,
        layers: list[Layer] | None = None,
        artifacts: ArtifactRegistry | None = None,
    ) -> None:
        self.runbook = runbook
        self.state = state
        self.recorder = recorder
        self.governance = runbook.meta.governance
        # one redaction for every sink: trace events, snapshots, step results (and what is built from them)
        self.redact = Redactor.for_run(runbook, state.vars)
        # a recorder that keeps deltas (the run folder's journal) gets a step's snapshot as what changed
        self._diff_recorder: DeltaRecorder | None = recorder if isinstance(recorder, DeltaRecorder) else None
        self._diff = StateDiff(self.redact.tree) if self._diff_recorder is not None else None
        # the org's floor (None: the local CLI, where only the runbook's own approvals apply)
        self.approval_floor = approval_floor
        self.steps = runbook.leaf_steps()  # execution order: topological when the runbook uses needs
        # a runbook with needs runs as a graph: a failure skips its dependents, independent steps still run
        self.graph = runbook.uses_needs
        self._by_id = {step.id: step for step in reversed(self.steps)}
        # the org's artifacts (None: only this run's own bundle is consulted; replay runs get None)
        self.artifacts = artifacts
        self.replay_evidence = replay_evidence or {}
        self.replayer: Replayer | None = None
        self._sleep = sleep
        # the one command policy: the runbook's governance under whatever the caller stacks above it
        self.layers = layers if layers is not None else layers_for(self.governance)
        self.policy = command_policy(
            self.layers, mode=state.mode, path=child_env(self.governance).get("PATH") if state.mode == "real" else None
        )
        self.limits = limits
        # a monotonic time after which continue_ starts no new step (the service sets it per advance)
        self.deadline: float | None = None
        if runner is not None:
            self.runner = runner
        elif state.mode == "replay":
            if scenario is None:
                raise EngineError("replay mode needs a scenario")
            self.replayer = Replayer(
                scenario,
                base_dir=scenario_dir,
                vars_=state.vars,
                output_cap=limits.scenario_output_bytes if limits else None,
                max_delay=limits.replay_delay if limits else None,
            )
            self.replayer.load(state.replay)
            self.runner = replay_runner(self.replayer, self.governance, layers=self.layers)
        else:
            self.runner = real_runner(self.governance, layers=self.layers)

    # -- inspection -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.state.current_step_index >= len(self.steps)

    def current(self) -> Leaf | None:
        return None if self.done else self.steps[self.state.current_step_index]

    def _emit(self, kind: str, _redacted: dict[str, Any] | None = None, **fields: Any) -> None:
        """One trace record; ``_redacted`` holds fields already redacted (a step result), not walked twice."""
        record = {"event": kind, "run_id": self.state.run_id, "mode": self.state.mode, "at": now().isoformat()}
        record = self.redact.tree(record | fields)
        self.recorder.event(record | _redacted if _redacted else record)

    def snapshot(self, name: str | None = None) -> str:
        """Keep the state: whole, or (a step's own snapshot while the run goes on, to a recorder that
        keeps deltas) as what changed since the last one."""
        step_snapshot = name is None
        name = name or f"step-{len(self.state.history):04d}.json"
        if isinstance(self.recorder, NullRecorder):
            return name  # nothing kept: no state to copy and redact
        deltas, diff = self._diff_recorder, self._diff
        if (
            step_snapshot
            and deltas is not None
            and diff is not None
            and diff.primed
            and self.state.status == "running"
            and deltas.journal(diff.delta(self.state), name)
        ):
            self._emit("snapshot", name=name, delta=True)
            return name
        state = self.state
        if not getattr(self.recorder, "history_in_snapshots", True):
            # the history is kept elsewhere (the trace, step_results): a snapshot is state, not history
            state = state.model_copy(update={"history": []})
        name = self.recorder.snapshot(self.redact.model(state), name) or name
        if self._diff is not None:
            self._diff.reset(self.state)
        self._emit("snapshot", name=name)
        return name

    # -- advancing ---------------------------------------------------------------------------

    def next(self) -> StepResult | None:
        """Run (cli) or try to complete (manual) the current step; None while a manual step waits."""
        self.ensure_open()
        step = self.current()
        if step is None:
            raise EngineError("the run has no step left")
        if self.state.status == "failed":
            self.state.status = "running"  # resuming a failed run retries its failed step
        result = self._attempt(step)
        if result is None:
            return None
        # redacted once: the same dump is the history's entry and the trace's record
        dumped = self.redact.tree(result.model_dump(mode="json") | {"replay": self.state.mode == "replay"})
        result = StepResult.model_validate(dumped)
        self.state.history.append(result)
        if self.replayer is not None:
            self.state.replay = self.replayer.dump()
        # ``index``: the result's place in the history, how the run folder reads the history back
        self._emit("step_result", {"result": dumped}, index=len(self.state.history) - 1)
        if result.artifact is not None:
            self._emit("artifact", step_id=result.step_id, artifact=dumped["artifact"])
        if result.status == "failed" and (not self.graph or result.error_kind == "duplicate"):
            # without needs a failure stops the run (as always); a duplicate refused by on_duplicate: fail
            # stops a graph run too: the org already holds what this run was about to make
            self.state.status = "failed"
        else:
            self.state.current_step_index += 1
            self.state.status = self._outcome() if self.done else "running"
        if self.state.status in ("passed", "failed"):
            self._emit("run_finished", status=self.state.status)
        self.snapshot()
        return result

    def _outcome(self) -> RunStatus:
        """A finished graph run: failed when a required step failed or was skipped for a failure."""
        last = {r.step_id: r for r in self.state.history}
        bad = [s.id for s in self.steps if s.required and (r := last.get(s.id)) is not None and r.status != "passed"]
        return "failed" if bad else "passed"

    def _attempt(self, step: Leaf) -> StepResult | None:
        """The step's result, or None while it waits (a checkpoint's confirmation, a manual step's evidence)."""
        blocked = self._blocked_by(step)
        if blocked is not None:
            return self._skipped(step, blocked)
        if step.checkpoint and not self.confirmed(step):
            if self.state.status != "waiting" or self.state.checkpoint_plan is None:
                self.state.status = "waiting"
                # what a dry-run of the rest would do: shown before anyone confirms
                self.state.checkpoint_plan = self.redact.tree(self.plan(start=self.state.current_step_index))
                self._emit(
                    "checkpoint",
                    step_id=step.id,
                    missing=self.waiting_for(step),
                    remaining_plan=self.state.checkpoint_plan,
                )
            return None
        self.state.checkpoint_plan = None
        if isinstance(step, CheckpointStep):
            return self._passed_checkpoint(step)
        signature: str | None = None
        if step.produces is not None:
            try:
                signature = self.signature(step)
            except GovernanceError as exc:
                return self._failed(step, str(exc), "governance")
            if step.on_duplicate is not None:
                existing = self.find_artifact(signature)
                if existing is not None and step.on_duplicate == "fail":
                    return self._failed(
                        step,
                        f"artifact {step.produces.name} with signature {signature!r} already exists "
                        f"(created by run {existing.run_id}, step {existing.step_id}); on_duplicate: fail",
                        "duplicate",
                    )
                if existing is not None:
                    return self._reused(step, existing, signature)
        result: StepResult | None
        if isinstance(step, CliStep):
            result = self._run_cli(step)
        else:
            result = self._try_manual(step)
            if result is None:
                if self.state.status != "waiting":
                    self.state.status = "waiting"
                    self._emit("waiting", step_id=step.id, missing=self.missing_evidence(step))
                return None
        if step.checkpoint:
            result.evidence["checkpoint"] = self._confirmation_evidence(step)
        if result.status == "passed" and step.produces is not None and signature is not None:
            result.artifact = self._created(step, signature)
        return result

    def _base(self, step: Leaf, actor: str = "engine") -> dict[str, Any]:
        return {"run_id": self.state.run_id, "step_id": step.id, "actor": actor, "started_at": now()}

    def _failed(self, step: Leaf, error: str, kind: ErrorKind) -> StepResult:
        return StepResult(**self._base(step), status="failed", ended_at=now(), error=error, error_kind=kind)

    def _blocked_by(self, step: Leaf) -> str | None:
        """Why a graph run skips ``step``: a step it needs failed or was skipped (None: it may run)."""
        if not self.graph or not step.needs:
            return None
        last = {r.step_id: r for r in self.state.history}
        for need in step.needs:
            r = last.get(need)
            if r is not None and r.status == "failed":
                return f"needs {need}, which failed"
            if r is not None and r.status == "skipped":
                return f"needs {need}, which was skipped ({r.error})"
        return None

    def _skipped(self, step: Leaf, reason: str) -> StepResult:
        return StepResult(**self._base(step), status="skipped", ended_at=now(), error=reason, error_kind="dependency")

    def signature(self, step: Leaf) -> str:
        """The step's artifact signature over vars and the captures so far: resolved before it runs."""
        if step.produces is None:
            raise EngineError(f"step {step.id} produces nothing")
        values = self.state.vars | self.state.captures
        text = render(step.produces.signature, values, self.governance).strip()
        if not text:
            raise GovernanceError(f"step {step.id}: the artifact signature resolved to nothing")
        if len(text) > MAX_SIGNATURE_CHARS:
            raise GovernanceError(
                f"step {step.id}: the artifact signature is {len(text)} characters, over {MAX_SIGNATURE_CHARS}"
            )
        return text

    def find_artifact(self, signature: str) -> Artifact | None:
        """This run's own artifact with the signature, else the org's (from any run), else None."""
        own = next((a for a in self.state.artifacts if a.signature == signature and a.status == "created"), None)
        if own is not None:
            return own
        return self.artifacts.find(signature) if self.artifacts is not None else None

    def _links(self, step: Leaf) -> list[str]:
        """Signatures of the artifacts made by the nearest steps ``step`` needs that made one."""
        made = {a.step_id: a.signature for a in self.state.artifacts}
        links: list[str] = []
        seen: set[str] = set()
        todo = list(reversed(step.needs))
        while todo:
            need = todo.pop()
            if need in seen:
                continue
            seen.add(need)
            if need in made:
                links.append(made[need])
            elif need in self._by_id:
                todo.extend(reversed(self._by_id[need].needs))
        return list(dict.fromkeys(links))

    def _created(self, step: Leaf, signature: str) -> Artifact:
        assert step.produces is not None
        artifact = Artifact(
            name=step.produces.name,
            signature=signature,
            step_id=step.id,
            status="created",
            run_id=self.state.run_id,
            links=self._links(step),
        )
        self.state.artifacts.append(artifact)
        if self.artifacts is not None:
            self.artifacts.register(artifact)
        return artifact

    def _reused(self, step: Leaf, existing: Artifact, signature: str) -> StepResult:
        assert step.produces is not None
        artifact = Artifact(
            name=step.produces.name,
            signature=signature,
            step_id=step.id,
            status="reused",
            run_id=existing.run_id,
            created_at=existing.created_at,
            links=self._links(step),
        )
        self.state.artifacts.append(artifact)
        return StepResult(
            **self._base(step),
            status="passed",
            ended_at=now(),
            reused=True,
            artifact=artifact,
            evidence={
                "reused": f"artifact {signature!r} already exists (run {existing.run_id}); the step did not run "
                "and made no captures"
            },
        )

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint_gate(self) -> Gate:
        """Who may confirm a checkpoint: at least one person, holding a role of the org's floor."""
        floor = self.approval_floor
        if floor is None:
            return Gate(1)
        return Gate(max(1, floor.min), tuple(floor.roles))

    def counted_confirmations(self, step: Leaf) -> list[Approval]:
        gate, seen, out = self.checkpoint_gate(), set(), []
        for a in self.state.confirmations.get(step.id, []):
            # replayed evidence never confirms: a checkpoint guards what is real
            if a.via == "replay" or a.name in seen or a.name == self.state.actor or not gate.accepts(a.roles):
                continue
            seen.add(a.name)
            out.append(a)
        return out

    def confirmed(self, step: Leaf) -> bool:
        return len(self.counted_confirmations(step)) >= self.checkpoint_gate().min

    def confirm(
        self, name: str, roles: str | Iterable[str], *, step_id: str | None = None, via: ApprovedVia = "unverified"
    ) -> Approval:
        """Confirm the checkpoint the run waits at (after seeing the rest of the plan)."""
        self.ensure_open()
        held = [roles] if isinstance(roles, str) else sorted(set(roles))
        step = self.current() if step_id is None else self._by_id.get(step_id)
        if step is None or not step.checkpoint:
            raise EngineError(f"{step_id or 'the current step'} is not a checkpoint")
        if via == "replay":
            raise EngineRefused(f"checkpoint {step.id} needs a real confirmation; replayed evidence cannot pass it")
        if self.confirmed(step):
            raise EngineConflict(f"checkpoint {step.id} is already confirmed")
        gate = self.checkpoint_gate()
        if name == self.state.actor:
            raise EngineRefused(
                f"{name} requested run {self.state.run_id} and cannot confirm its checkpoint (four eyes)"
            )
        if not gate.accepts(held):
            raise EngineRefused(
                f"checkpoint {step.id} needs a confirmation by {gate.describe()}; "
                f"{name} holds {', '.join(held) or 'none'}"
            )
        given = self.state.confirmations.setdefault(step.id, [])
        if any(a.name == name for a in given):
            raise EngineConflict(f"{name} already confirmed checkpoint {step.id}; one person counts once")
        counting = [r for r in held if r in gate.floor_roles] or held
        approval = Approval(name=name, role=counting[0] if counting else "confirmer", roles=counting, via=via)
        given.append(approval)
        self._emit("checkpoint_confirmed", step_id=step.id, name=name, roles=counting, via=via)
        return approval

    def _confirmation_evidence(self, step: Leaf) -> dict[str, Any]:
        return {"confirmed_by": [a.model_dump(mode="json") for a in self.counted_confirmations(step)]}

    def _passed_checkpoint(self, step: CheckpointStep) -> StepResult:
        return StepResult(
            **self._base(step, "human"),
            status="passed",
            ended_at=now(),
            evidence={"checkpoint": self._confirmation_evidence(step)},
        )

    def waiting_for(self, step: Leaf | None = None) -> list[str]:
        """What the step the run waits at still needs: a checkpoint's confirmation, a manual step's evidence."""
        step = step if step is not None else self.current()
        if step is None:
            return []
        if step.checkpoint and not self.confirmed(step):
            gate = self.checkpoint_gate()
            have = len(self.counted_confirmations(step))
            return [f"checkpoint confirmation {have}/{gate.min} ({gate.describe()}, not the requester)"]
        if isinstance(step, ManualStep):
            return self.missing_evidence(step)
        return []

    def continue_(self) -> list[StepResult]:
        """Advance until a manual step waits, a step fails, the next breakpoint, or the end."""
        results: list[StepResult] = []
        first = True
        while not self.done and self.state.status not in ("failed", *CLOSED):
            step = self.current()
            if not first and step is not None and step.id in self.state.breakpoints:
                self._emit("breakpoint", step_id=step.id)
                break
            if not first and self.deadline is not None and time.monotonic() >= self.deadline:
                # the advance used its time: the run stays here, a later continue resumes it
                self._emit("advance_time_limit", step_id=step.id if step is not None else None)
                break
            first = False
            result = self.next()
            if result is None:
                break
            results.append(result)
        return results

    # -- cli steps ---------------------------------------------------------------------------

    def resolved_argv(self, step: CliStep) -> list[str]:
        return self._decided_argv(step, self.state.vars | self.state.captures)[0]

    def _decided_argv(self, step: CliStep, values: dict[str, str]) -> tuple[list[str], str | None]:
        """The rendered argv once the command policy admits it whole, and the binary it runs."""
        argv, tainted = render_argv(step.with_.argv, values, self.runbook.meta)
        decision = self.policy.decide(argv, tainted)
        if not decision.allowed:
            raise GovernanceError(decision.reason())
        return argv, decision.executable

    def _run_cli(self, step: CliStep) -> StepResult:
        started = now()
        timeout = step.timeout or self.governance.default_timeout
        if self.limits is not None:  # a run stored before the ceiling was lowered still obeys it
            timeout = min(timeout, self.limits.step_timeout)
        strategy = f"{step.retry.strategy}({step.retry.attempts}x, {step.retry.delay:g}s)"
        base: dict[str, Any] = {
            "run_id": self.state.run_id,
            "step_id": step.id,
            "actor": "engine",
            "started_at": started,
        }
        try:
            argv = self.resolved_argv(step)
            stdin = (
                render(step.with_.stdin, self.state.vars | self.state.captures, self.governance)
                if step.with_.stdin
                else None
            )
        except GovernanceError as exc:
            return StepResult(**base, status="failed", ended_at=now(), error=str(exc), error_kind="governance")
        attempt, error = 0, None
        kind: ErrorKind | None = None
        evidence: dict[str, Any] = {}
        captures: dict[str, str] = {}
        attempts = step.retry.attempts if self.limits is None else min(step.retry.attempts, self.limits.retry_attempts)
        while attempt < attempts:
            attempt += 1
            if attempt > 1:
                self._wait_before(step, attempt)
            try:
                transcript = self.runner(argv, stdin, timeout)
            except GovernanceError as exc:
                return StepResult(**base, status="failed", ended_at=now(), error=str(exc), error_kind="governance")
            except ReplayMismatch as exc:
                return StepResult(**base, status="failed", ended_at=now(), error=str(exc), error_kind="replay")
            except OSError as exc:
                error, kind = f"could not start {argv[0]!r}: {exc}", "exec"
                continue
            stdout, stderr = self.redact(transcript.stdout), self.redact(transcript.stderr)
            evidence = self._cli_evidence(argv, transcript, stdout, stderr)
            if transcript.timed_out:
                error, kind = f"timed out after {timeout:g}s", "timeout"
                continue
            error = self._check(step, transcript, stdout, stderr)
            kind = "assertion" if error else None
            if error is None:
                captures = self._capture(step, transcript, stdout, stderr)
                break
        return StepResult(
            **base,
            status="failed" if error else "passed",
            ended_at=now(),
            evidence=evidence,
            captures=captures,
            error=error,
            error_kind=kind,
            attempts=attempt,
            retryable=kind in ("timeout", "assertion", "exec"),
            retry_strategy=strategy,
        )

    def _wait_before(self, step: CliStep, attempt: int) -> None:
        """The pause before a retry: the step's delay (doubled each time when exponential), within limits."""
        factor = 2 ** (attempt - 2) if step.retry.strategy == "exponential" else 1
        delay = step.retry.delay * factor
        delay = delay if self.limits is None else min(delay, self.limits.retry_delay)
        # Real commands hit shared systems: runs that failed together must not retry together.
        self._sleep(jittered(delay) if self.state.mode == "real" else delay)

    def _cli_evidence(self, argv: list[str], transcript: Transcript, stdout: str, stderr: str) -> dict[str, Any]:
        """What an attempt leaves as evidence; ``stdout`` and ``stderr`` are already redacted."""
        full = self.governance.evidence.store_full_stdout
        evidence = {
            "argv": [self.redact(a) for a in argv],
            "exit_code": transcript.exit_code,
            "stdout": summarise(stdout, full=full),
            "stderr": summarise(stderr, full=full),
            # sizes, truncation and layers; the raw streams' hashes could confirm a guessed secret that
            # redaction hides, so they are kept only for runbooks without redaction rules
            **transcript.evidence(hashes=not self.governance.redact),
        }
        if transcript.truncated:
            evidence["truncated"] = True
        return evidence

    def _capture(self, step: CliStep, transcript: Transcript, stdout: str, stderr: str) -> dict[str, str]:
        """The step's captures into the run's state; what the result shows of them is returned."""
        full = self.governance.evidence.store_full_stdout
        values = {
            "stdout": stdout.rstrip("\n"),
            "stderr": stderr.rstrip("\n"),
            "exit_code": str(transcript.exit_code),
        }
        captures: dict[str, str] = {}
        for name, source in step.capture.items():
            self.state.captures[name] = values[source]
            captures[name] = summarise(values[source], full=full)
        return captures

    @staticmethod
    def _check(step: CliStep, t: Transcript, stdout: str, stderr: str) -> str | None:
        """The first failed assertion, or None. Without an exit_code assertion, exit 0 is expected."""
        if not any(a.exit_code is not None for a in step.assertions) and t.exit_code != 0:
            return f"exit code {t.exit_code}, expected 0" + (f": {stderr.strip()[:200]}" if stderr.strip() else "")
        for a in step.assertions:
            text = stdout if a.on == "stdout" else stderr
            if a.exit_code is not None and t.exit_code != a.exit_code:
                return f"exit code {t.exit_code}, expected {a.exit_code}"
            if a.contains is not None and a.contains not in text:
                return f"{a.on} does not contain {a.contains!r}"
            if a.not_contains is not None and a.not_contains in text:
                return f"{a.on} contains {a.not_contains!r}"
            if a.equals is not None and text.strip() != a.equals.strip():
                return f"{a.on} does not equal {a.equals!r}"
            if a.matches is not None and not patterns.search(a.matches, text):
                return f"{a.on} does not match /{a.matches}/"
        return None

    # -- manual steps, evidence, approvals ---------------------------------------------------

    def ensure_open(self) -> None:
        if self.state.status in CLOSED:
            raise EngineConflict(f"run {self.state.run_id} has ended ({self.state.status}): it accepts nothing more")

    def _manual(self, step_id: str | None) -> ManualStep:
        self.ensure_open()
        step = self.current() if step_id is None else next((s for s in self.steps if s.id == step_id), None)
        if not isinstance(step, ManualStep):
            raise EngineError(f"{step_id or 'the current step'} is not a manual step")
        return step

    def _evidence(self, step: ManualStep) -> StepEvidence:
        ev = self.state.evidence.get(step.id)
        if ev is None:
            ev = StepEvidence()
            # recorded evidence counts only inside a replay run, and its approvals stay marked as replayed
            saved = self.replay_evidence.get(step.id) if self.state.mode == "replay" else None
            if saved and step.replay_mode == "reuse_evidence":
                ev = StepEvidence.model_validate(saved)
                ev.approvals = [a.model_copy(update={"via": "replay"}) for a in ev.approvals]
                self._emit("evidence_reused", step_id=step.id, replay=True)
            self.state.evidence[step.id] = ev
        return ev

    def set_evidence(
        self, name: str, value: str | list[str], *, step_id: str | None = None, actor: str = "human"
    ) -> None:
        step = self._manual(step_id)
        item = next((e for e in step.required_evidence if e.name == name), None)
        if item is None:
            known = ", ".join(e.name for e in step.required_evidence) or "none"
            raise EngineError(f"step {step.id} has no evidence named {name!r} (expected: {known})")
        ev = self._evidence(step)
        if item.kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise EngineError(f"evidence {name!r} is text: give a non-empty string")
            ev.text[name] = self.redact(value)
        elif item.kind == "checklist":
            ticked = [value] if isinstance(value, str) else list(value)
            unknown = [t for t in ticked if t not in item.items]
            if unknown:
                raise EngineError(f"{unknown!r} are not items of checklist {name!r} (items: {item.items!r})")
            ev.checklist[name] = sorted(set(ev.checklist.get(name, [])) | set(ticked), key=item.items.index)
        else:
            raise EngineError(f"evidence {name!r} is an attachment: attach a file")
        self._emit("evidence_submitted", step_id=step.id, name=name, by=actor)

    def attach(
        self, name: str, filename: str, data: bytes, *, step_id: str | None = None, actor: str = "human"
    ) -> Attachment:
        step = self._manual(step_id)
        item = next((e for e in step.required_evidence if e.name == name), None)
        if item is None or item.kind != "attachment":
            raise EngineError(f"step {step.id} has no attachment evidence named {name!r}")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise EngineError(f"attachment is {len(data)} bytes, over the limit of {MAX_ATTACHMENT_BYTES}")
        if name in self._evidence(step).attachments:
            raise EngineConflict(f"step {step.id} already has an attachment {name!r}; an upload is never replaced")
        relpath = f"attachments/{step.id}-{name}-{safe_filename(filename)}"
        self.recorder.store_attachment(relpath, data)
        att = Attachment(
            filename=safe_filename(filename), path=relpath, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
        )
        self._evidence(step).attachments[name] = att
        self._emit("attachment", step_id=step.id, name=name, by=actor, **att.model_dump())
        return att

    def gate(self, step: ManualStep) -> Gate | None:
        """The approvals ``step`` needs, or None. The org's floor applies to steps that declare
        approvals and to every manual step of a real run; a runbook may raise ``min`` and narrow
        the roles (an approver must hold one of each list), never lower or widen them."""
        floor, own = self.approval_floor, step.approvals
        if floor is None:
            return Gate(own.min, (), tuple(own.roles)) if own is not None and own.min > 0 else None
        if own is None and self.state.mode != "real":
            return None
        need = max(floor.min, own.min if own is not None else 0)
        if need <= 0:
            return None
        return Gate(need, tuple(floor.roles), tuple(own.roles) if own is not None else ())

    def approve(
        self,
        name: str,
        roles: str | Iterable[str],
        *,
        step_id: str | None = None,
        via: ApprovedVia = "unverified",
    ) -> Approval:
        """Record ``name``'s approval; ``via="token"`` when name and roles come from a verified token."""
        target = self.current() if step_id is None else self._by_id.get(step_id)
        if target is not None and target.checkpoint and not self.confirmed(target):
            # the approvals endpoint confirms a checkpoint too: same permission, same four eyes
            return self.confirm(name, roles, step_id=target.id, via=via)
        held = [roles] if isinstance(roles, str) else sorted(set(roles))
        step = self._manual(step_id)
        gate = self.gate(step)
        if gate is None:
            raise EngineError(f"step {step.id} needs no approval")
        if name == self.state.actor:
            raise EngineRefused(f"{name} requested run {self.state.run_id} and cannot approve it (four eyes)")
        if not gate.accepts(held):
            raise EngineRefused(
                f"step {step.id} needs an approver holding {gate.describe()}; {name} holds {', '.join(held) or 'none'}"
            )
        ev = self._evidence(step)
        if any(a.name == name for a in ev.approvals):
            raise EngineConflict(f"{name} already approved step {step.id}; one person counts once")
        counting = [r for r in held if r in gate.step_roles or r in gate.floor_roles] or held
        role = next((r for r in counting if r in gate.step_roles), counting[0])
        approval = Approval(name=name, role=role, roles=counting, via=via)
        ev.approvals.append(approval)
        self._emit("approval", step_id=step.id, name=name, role=role, roles=counting, via=via)
        return approval

    def counted_approvals(self, step: ManualStep, gate: Gate) -> list[Approval]:
        """The approvals that count: one per person, never the requester, each holding the gate's roles."""
        seen: set[str] = set()
        out = []
        for a in self._evidence(step).approvals:
            if a.name in seen or a.name == self.state.actor or not gate.accepts(a.roles or [a.role]):
                continue
            seen.add(a.name)
            out.append(a)
        return out

    def reject(self, by: str, reason: str, *, step_id: str | None = None) -> None:
        """An approver refuses the gate the run waits at: the run ends ``rejected``."""
        self.ensure_open()
        step = self.current()
        at_checkpoint = step is not None and step.checkpoint and not self.confirmed(step)
        if (
            step is None
            or step_id not in (None, step.id)
            or not (at_checkpoint or (isinstance(step, ManualStep) and self.gate(step) is not None))
        ):
            where = f"step {step_id}" if step_id else "its current step"
            raise EngineConflict(f"run {self.state.run_id} is not waiting for an approval of {where}")
        self._end("rejected", by, reason, step_id=step.id)

    def cancel(self, by: str, reason: str | None = None) -> None:
        self.ensure_open()
        self._end("cancelled", by, reason)

    def _end(self, status: str, by: str, reason: str | None, **fields: Any) -> None:
        self.state.status = status  # type: ignore[assignment]
        self.state.ended_by, self.state.end_reason = by, reason
        self._emit(f"run_{status}", by=by, reason=reason, **fields)
        self._emit("run_finished", status=status)
        self.snapshot(f"step-{len(self.state.history):04d}-{status}.json")

    def missing_evidence(self, step: ManualStep) -> list[str]:
        """What a manual step still needs: evidence names, unchecked items and approvals."""
        ev = self._evidence(step)
        missing: list[str] = []
        if self.governance.evidence.require_for_manual:
            for item in step.required_evidence:
                if item.optional:
                    continue
                present = ev.text if item.kind == "text" else ev.attachments
                if item.kind != "checklist" and item.name not in present:
                    missing.append(item.name)
                elif item.kind == "checklist":
                    unchecked = [i for i in item.items if i not in ev.checklist.get(item.name, [])]
                    missing += [f"{item.name}: {i}" for i in unchecked]
        gate = self.gate(step)
        if gate is not None:
            have = len(self.counted_approvals(step, gate))
            if have < gate.min:
                missing.append(f"approval {have}/{gate.min} ({gate.describe()})")
        return missing

    def _try_manual(self, step: ManualStep) -> StepResult | None:
        if self.missing_evidence(step):
            return None
        ev = self.state.evidence[step.id]
        waited_since = next((h.ended_at for h in reversed(self.state.history)), self.state.started_at)
        return StepResult(
            run_id=self.state.run_id,
            step_id=step.id,
            status="passed",
            actor="human",
            started_at=waited_since,
            ended_at=now(),
            evidence=ev.model_dump(mode="json"),
        )

    # -- dry-run and verification -----------------------------------------------------------

    def plan(self, start: int = 0) -> list[dict[str, Any]]:
        """Each step's resolved argv, governance verdict and pauses from step ``start`` (in execution
        order); executes and writes nothing. Captures already made are used, later ones shown as such."""
        out = []
        known = set(self.state.vars) | set(self.state.captures)
        for step in self.steps[start:]:
            entry: dict[str, Any] = {"step_id": step.id, "type": step.type}
            values = self.state.vars | self.state.captures
            values |= {n: f"<capture {n}>" for n in known - set(values)}
            if step.needs:
                entry["needs"] = list(step.needs)
            if step.checkpoint:
                confirm = self.checkpoint_gate()
                entry["checkpoint"] = (
                    f"pauses for {confirm.min} confirmation(s) by {confirm.describe()}, not the requester"
                )
            if step.produces is not None:
                try:
                    signature = render(step.produces.signature, values, self.governance)
                except GovernanceError as exc:
                    signature = f"refused: {exc}"
                entry["produces"] = {
                    "name": step.produces.name,
                    "signature": signature,
                    "on_duplicate": step.on_duplicate,
                }
            if isinstance(step, CheckpointStep):
                entry["pauses_for"] = [entry["checkpoint"]]
                entry["verdict"] = "waits for a confirmation"
            elif isinstance(step, CliStep):
                try:
                    entry["argv"] = [render(arg, values, self.governance) for arg in step.with_.argv]
                    _, executable = self._decided_argv(step, values)
                    if self.state.mode == "real":
                        entry["resolved"] = executable
                    entry["verdict"] = "allowed"
                except GovernanceError as exc:
                    entry["verdict"] = f"refused: {exc}"
                entry["timeout_s"] = step.timeout or self.governance.default_timeout
                known |= set(step.capture)
            else:
                needs = [f"{e.kind} {e.name}" for e in step.required_evidence if not e.optional]
                gate = self.gate(step)
                entry["pauses_for"] = needs + ([f"{gate.min} approval(s) by {gate.describe()}"] if gate else [])
                entry["verdict"] = "waits for a human"
            out.append(entry)
        return out


def verify(runbook: Runbook, state: RunState) -> list[str]:
    """What keeps the run from being complete: one message per unsatisfied required step."""
    problems = []
    last: dict[str, StepResult] = {r.step_id: r for r in state.history}
    for step in runbook.leaf_steps():
        if not step.required:
            continue
        result = last.get(step.id)
        if result is not None and result.status == "passed":
            continue
        if result is None:
            if isinstance(step, CheckpointStep):
                problems.append(f"{step.id}: checkpoint not confirmed")
            elif isinstance(step, ManualStep):
                probe = Engine(runbook, state.model_copy(deep=True), NullRecorder(), runner=refuse_to_run)
                missing = ", ".join(probe.missing_evidence(step))
                problems.append(f"{step.id}: missing evidence: {missing}" if missing else f"{step.id}: not completed")
            else:
                problems.append(f"{step.id}: not executed")
        elif result.status == "skipped":
            problems.append(f"{step.id}: skipped: {result.error}")
        elif result.error_kind == "governance":
            problems.append(f"{step.id}: disallowed command: {result.error}")
        elif result.error_kind == "assertion":
            problems.append(f"{step.id}: assertion failed: {result.error}")
        else:
            problems.append(f"{step.id}: failed ({result.error_kind}): {result.error}")
    return problems
