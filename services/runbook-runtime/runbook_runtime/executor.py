"""Runs one CLI step's argv: for real (no shell, scrubbed env, timeout) or from a replay scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playbooks_contracts.runbook import Governance

from .governance import CommandPolicy, GovernanceError, child_env, resolve_command, which_real
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


def real_runner(governance: Governance, *, cwd: str | None = None) -> Runner:
    """Executes argv after the allow-list check on the resolved program; never through a shell, always sandboxed."""
    env = child_env(governance)
    policy = CommandPolicy(governance)

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        program = policy.resolve(argv[0], path=env.get("PATH"))
        from .sandbox import current  # the sandbox module imports Transcript from here

        # argv[0] as written, the resolved program as what is executed; in a sandbox or the runner
        return current()(argv, executable=program, stdin=stdin, timeout=timeout, env=env, cwd=cwd)

    return run


def replay_runner(replayer: Replayer, governance: Governance) -> Runner:
    """Answers from the scenario; the allow-list still applies by name, nothing is executed."""

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        check_name_allowed(argv[0], governance)
        reply = replayer.answer(argv, stdin)
        return Transcript(
            exit_code=reply.exit_code, stdout=reply.stdout, stderr=reply.stderr, truncated=reply.truncated
        )

    return run


def check_name_allowed(program: str, governance: Governance) -> None:
    """Offline check (replay, dry-run): resolve when the program exists here, else compare names."""
    if which_real(program, None) is not None:
        resolve_command(program, governance)
        return
    name = program.rsplit("/", 1)[-1]
    if name in governance.deny_commands:
        raise GovernanceError(f"command {program!r} is on the deny list")
    if program not in governance.allowed_commands and name not in governance.allowed_commands:
        names = ", ".join(governance.allowed_commands) or "nothing"
        raise GovernanceError(f"command {program!r} is not allowed (allowed: {names})")
