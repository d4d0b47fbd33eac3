"""Runs one CLI step's argv: for real (no shell, scrubbed env, timeout) or from a replay scenario."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from playbooks_contracts.command_policy import Layer
from playbooks_contracts.runbook import Governance

from .governance import GovernanceError, child_env, command_policy
from .scenario import Replayer


@dataclass
class Transcript:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False


Runner = Callable[[list[str], str | None, float], Transcript]


def real_runner(governance: Governance, *, layers: Sequence[Layer] | None = None, cwd: str | None = None) -> Runner:
    """Executes argv once the command policy admits it as a whole; never through a shell."""
    env = child_env(governance)
    policy = command_policy(layers if layers is not None else governance, mode="real", path=env.get("PATH"))

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        decision = policy.decide(argv)
        if not decision.allowed or decision.executable is None:
            raise GovernanceError(decision.reason())
        try:
            # argv[0] as written: a multi-call binary (busybox) does what the name it was judged by says
            done = subprocess.run(
                argv,
                executable=decision.executable,
                input=stdin,
                capture_output=True,
                text=True,
                errors="replace",
                env=env,
                cwd=cwd,
                timeout=timeout,
                shell=False,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return Transcript(exit_code=-1, stdout=out, stderr=f"timed out after {timeout:g}s", timed_out=True)
        return Transcript(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr)

    return run


def replay_runner(replayer: Replayer, governance: Governance, *, layers: Sequence[Layer] | None = None) -> Runner:
    """Answers from the scenario; the same policy decides, nothing is executed."""
    policy = command_policy(layers if layers is not None else governance, mode="replay")

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        decision = policy.decide(argv)
        if not decision.allowed:
            raise GovernanceError(decision.reason())
        reply = replayer.answer(argv, stdin)
        return Transcript(exit_code=reply.exit_code, stdout=reply.stdout, stderr=reply.stderr)

    return run
