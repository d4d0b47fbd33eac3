"""Runs one CLI step's argv: for real (no shell, scrubbed env, timeout) or from a replay scenario."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    # what the program really wrote: stdout/stderr above may be only its head and tail
    stdout_bytes: int | None = None
    stdout_sha256: str | None = None
    stderr_bytes: int | None = None
    stderr_sha256: str | None = None
    truncated: bool = False
    isolation: str | None = None

    def evidence(self, *, hashes: bool) -> dict[str, Any]:
        """The stream facts a step's evidence records (the raw hashes only when ``hashes``)."""
        if self.stdout_bytes is None:
            return {}
        return {
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "stdout_sha256": self.stdout_sha256 if hashes else None,
            "stderr_sha256": self.stderr_sha256 if hashes else None,
            "truncated": self.truncated,
            "isolation": self.isolation,
        }


Runner = Callable[[list[str], str | None, float], Transcript]


def real_runner(governance: Governance, *, layers: Sequence[Layer] | None = None, cwd: str | None = None) -> Runner:
    """Executes argv once the command policy admits it as a whole; never through a shell, always sandboxed."""
    env = child_env(governance)
    policy = command_policy(layers if layers is not None else governance, mode="real", path=env.get("PATH"))

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        decision = policy.decide(argv)
        if not decision.allowed or decision.executable is None:
            raise GovernanceError(decision.reason())
        from .sandbox import current  # the sandbox module imports Transcript from here

        # argv[0] as written, the judged binary as what is executed; in a sandbox or the runner
        return current()(argv, executable=decision.executable, stdin=stdin, timeout=timeout, env=env, cwd=cwd)

    return run


def replay_runner(replayer: Replayer, governance: Governance, *, layers: Sequence[Layer] | None = None) -> Runner:
    """Answers from the scenario; the same policy decides, nothing is executed."""
    policy = command_policy(layers if layers is not None else governance, mode="replay")

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        decision = policy.decide(argv)
        if not decision.allowed:
            raise GovernanceError(decision.reason())
        reply = replayer.answer(argv, stdin)
        return Transcript(
            exit_code=reply.exit_code, stdout=reply.stdout, stderr=reply.stderr, truncated=reply.truncated
        )

    return run
