"""Replay scenarios in the open-source ``cli-replay`` format, and the matcher that answers from them.

Steps are consumed in strict order; a ``group`` (``mode: unordered``) is satisfied in any order.
Each step may be called between ``calls.min`` and ``calls.max`` times (default 1..1). ``when``
makes a step apply only if its rendered value is truthy (not empty, ``0`` or ``false``).
``respond.capture`` sets scenario vars for later ``{{ .var }}`` matches. ``session.ttl`` is
validated for compatibility; replay state here lives as long as the run, so it is not used.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from playbooks_contracts import patterns
from playbooks_contracts.runbook import parse_duration

_ANY = re.compile(r"^\{\{\s*\.any\s*\}\}$")
_REGEX = re.compile(r'^\{\{\s*\.regex\s+"((?:[^"\\]|\\.)*)"\s*\}\}$')
_VAR = re.compile(r"^\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_VAR_ANYWHERE = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Security(_Strict):
    allowed_commands: list[str] = Field(default_factory=list)
    deny_env_vars: list[str] = Field(default_factory=list)


class Session(_Strict):
    ttl: Annotated[float, BeforeValidator(parse_duration)] | None = None


class ScenarioMeta(_Strict):
    name: str
    description: str = ""
    vars: dict[str, str] = Field(default_factory=dict)
    security: Security = Field(default_factory=Security)
    session: Session = Field(default_factory=Session)


class Match(_Strict):
    argv: list[str] = Field(min_length=1)
    stdin: str | None = None

    @field_validator("argv")
    @classmethod
    def _regexes_compile(cls, argv: list[str]) -> list[str]:
        # refused here, when the scenario is submitted, rather than while a run is replaying it
        for item in argv:
            if m := _REGEX.match(item):
                try:
                    patterns.compile_pattern(m.group(1).replace('\\"', '"'))
                except patterns.PatternError as exc:
                    raise ValueError(f"{item!r}: {exc}") from None
        return argv


class Respond(_Strict):
    exit: int = 0
    stdout: str | None = None
    stdout_file: str | None = None
    stderr: str | None = None
    stderr_file: str | None = None
    delay: Annotated[float, BeforeValidator(parse_duration)] | None = None
    capture: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Respond:
        if self.stdout is not None and self.stdout_file is not None:
            raise ValueError("respond has both stdout and stdout_file")
        if self.stderr is not None and self.stderr_file is not None:
            raise ValueError("respond has both stderr and stderr_file")
        return self


class Calls(_Strict):
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _order(self) -> Calls:
        if self.min > self.max:
            raise ValueError(f"calls.min {self.min} is above calls.max {self.max}")
        return self


class ScenarioStep(_Strict):
    match: Match
    respond: Respond = Field(default_factory=Respond)
    calls: Calls = Field(default_factory=Calls)
    when: str | None = None


class Group(_Strict):
    mode: str = "unordered"
    name: str | None = None
    steps: list[ScenarioStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _mode(self) -> Group:
        if self.mode != "unordered":
            raise ValueError(f"group mode {self.mode!r} is not supported (only 'unordered')")
        return self


class GroupEntry(_Strict):
    group: Group


class Scenario(_Strict):
    meta: ScenarioMeta
    steps: list[ScenarioStep | GroupEntry] = Field(min_length=1)


class ReplayMismatch(Exception):
    """The runbook issued a command the scenario does not expect at this point."""


class Reply(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False


def _argv_matches(pattern: list[str], argv: list[str], vars_: dict[str, str]) -> bool:
    if len(pattern) != len(argv):
        return False
    for want, got in zip(pattern, argv, strict=True):
        if _ANY.match(want):
            continue
        if m := _REGEX.match(want):
            if not patterns.fullmatch(m.group(1).replace('\\"', '"'), got):
                return False
            continue
        if _VAR.match(want) or _VAR_ANYWHERE.search(want):
            want = _VAR_ANYWHERE.sub(lambda v: vars_.get(v.group(1), v.group(0)), want)
        if want != got:
            return False
    return True


def bounded_text(text: str, cap: int) -> tuple[str, bool]:
    """``text`` if it fits in ``cap`` bytes, else its head and tail around a marker with the whole's sha256."""
    data = text.encode()
    if len(data) <= cap:
        return text, False
    half = cap // 2
    marker = f"\n…[{len(data) - 2 * half} bytes cut; whole output sha256:{hashlib.sha256(data).hexdigest()}]…\n"
    return data[:half].decode(errors="ignore") + marker + data[-half:].decode(errors="ignore"), True


def _read_bounded(path: Path, cap: int) -> tuple[str, bool]:
    """A scenario file's text, never more than ``cap`` bytes of it in memory at once (head and tail)."""
    size = path.stat().st_size
    if size <= cap:
        return path.read_text(), False
    half, digest = cap // 2, hashlib.sha256()
    with path.open("rb") as f:
        head = f.read(half)
        digest.update(head)
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        f.seek(size - half)
        tail = f.read(half)
    marker = f"\n…[{size - 2 * half} bytes cut; whole output sha256:{digest.hexdigest()}]…\n"
    return head.decode(errors="ignore") + marker + tail.decode(errors="ignore"), True


class Replayer:
    """Answers commands from a scenario, offline; keeps each step's call count.

    ``output_cap`` bounds each reply's stdout and stderr (head and tail kept); ``max_delay`` bounds a
    ``respond.delay``, which is slept where the replay runs: a worker thread in the service, never
    its event loop.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        base_dir: Path | None = None,
        vars_: dict[str, str] | None = None,
        output_cap: int | None = None,
        max_delay: float | None = None,
    ):
        self.scenario = scenario
        self.output_cap = output_cap
        self.max_delay = max_delay
        self.base_dir = base_dir
        self.vars = dict(scenario.meta.vars) | dict(vars_ or {})
        # entries: a list of step lists; a plain step is a group of one that must run in order
        self.entries: list[tuple[str, list[ScenarioStep]]] = []
        for i, entry in enumerate(scenario.steps):
            if isinstance(entry, GroupEntry):
                self.entries.append((entry.group.name or f"group[{i}]", entry.group.steps))
            else:
                self.entries.append((f"step[{i}]", [entry]))
        self.counts: list[list[int]] = [[0] * len(steps) for _, steps in self.entries]
        self.position = 0

    def _active(self, step: ScenarioStep) -> bool:
        if step.when is None:
            return True
        value = _VAR_ANYWHERE.sub(lambda v: self.vars.get(v.group(1), ""), step.when).strip().lower()
        return value not in ("", "0", "false", "no")

    def _satisfied(self, index: int) -> bool:
        _, steps = self.entries[index]
        return all(c >= s.calls.min or not self._active(s) for s, c in zip(steps, self.counts[index], strict=True))

    def answer(self, argv: list[str], stdin: str | None = None) -> Reply:
        while self.position < len(self.entries):
            _, steps = self.entries[self.position]
            for j, step in enumerate(steps):
                count = self.counts[self.position][j]
                if (
                    count < step.calls.max
                    and self._active(step)
                    and _argv_matches(step.match.argv, argv, self.vars)
                    and (step.match.stdin is None or step.match.stdin == (stdin or ""))
                ):
                    self.counts[self.position][j] += 1
                    return self._respond(step.respond)
            if not self._satisfied(self.position):
                break
            self.position += 1
        raise ReplayMismatch(self._diff(argv))

    def _diff(self, argv: list[str]) -> str:
        if self.position >= len(self.entries):
            return f"unexpected command {argv!r}: the scenario has no steps left"
        name, steps = self.entries[self.position]
        expected = [s.match.argv for s, c in zip(steps, self.counts[self.position], strict=True) if c < s.calls.max]
        lines = [f"unexpected command at scenario {name}:", *(f"  - expected: {e!r}" for e in expected)]
        return "\n".join([*lines, f"  + actual:   {argv!r}"])

    def _read(self, inline: str | None, file: str | None) -> tuple[str, bool]:
        if file is None:
            text = inline or ""
            return bounded_text(text, self.output_cap) if self.output_cap is not None else (text, False)
        if self.base_dir is None:
            raise ReplayMismatch(f"{file!r}: a scenario without a folder cannot refer to files")
        path = (self.base_dir / file).resolve()
        if not path.is_relative_to(self.base_dir.resolve()):
            raise ReplayMismatch(f"{file!r} is outside the scenario folder")
        return _read_bounded(path, self.output_cap) if self.output_cap is not None else (path.read_text(), False)

    def _respond(self, respond: Respond) -> Reply:
        if respond.delay:
            time.sleep(respond.delay if self.max_delay is None else min(respond.delay, self.max_delay))
        self.vars |= respond.capture
        stdout, cut_out = self._read(respond.stdout, respond.stdout_file)
        stderr, cut_err = self._read(respond.stderr, respond.stderr_file)
        return Reply(exit_code=respond.exit, stdout=stdout, stderr=stderr, truncated=cut_out or cut_err)

    def report(self) -> list[dict[str, Any]]:
        """Each scenario step's call count against its min/max (``runbook replay-verify``)."""
        out = []
        for (name, steps), counts in zip(self.entries, self.counts, strict=True):
            for j, (step, count) in enumerate(zip(steps, counts, strict=True)):
                out.append(
                    {
                        "step": name if len(steps) == 1 else f"{name}.steps[{j}]",
                        "argv": step.match.argv,
                        "calls": count,
                        "min": step.calls.min,
                        "max": step.calls.max,
                        "ok": step.calls.min <= count <= step.calls.max or not self._active(step),
                    }
                )
        return out

    def dump(self) -> dict[str, Any]:
        """Progress through the scenario, kept in the run state so a paused replay resumes in place."""
        return {"position": self.position, "counts": self.counts, "vars": self.vars}

    def load(self, saved: dict[str, Any]) -> None:
        if saved:
            self.position, self.counts, self.vars = saved["position"], saved["counts"], saved["vars"]
