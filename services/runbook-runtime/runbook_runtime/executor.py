"""Runs one CLI step's argv: for real (no shell, scrubbed env, timeout) or from a replay scenario."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from playbooks_contracts.runbook import Governance

from .governance import CommandPolicy, GovernanceError, child_env, resolve_command, which_real
from .scenario import Replayer


@dataclass
class Transcript:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False  # the output kept is the head and tail of a longer stream


Runner = Callable[[list[str], str | None, float], Transcript]


def real_runner(governance: Governance, *, cwd: str | None = None) -> Runner:
    """Executes argv after the allow-list check on the resolved program; never through a shell."""
    env = child_env(governance)
    policy = CommandPolicy(governance)

    def run(argv: list[str], stdin: str | None, timeout: float) -> Transcript:
        program = policy.resolve(argv[0], path=env.get("PATH"))
        try:
            done = subprocess.run(
                [program, *argv[1:]],
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
