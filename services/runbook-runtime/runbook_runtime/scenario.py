"""Replay scenarios in the open-source ``cli-replay`` format, and the engine that answers from them.

Loading follows cli-replay's loader (``pkg/scenario``): unknown fields, an empty ``meta.name``, an
exit outside 0..255, ``calls`` out of order, a capture id that is not an identifier, that shadows a
``meta.vars`` key or that a step uses before the step defining it, are refused. Replay follows its
engine (``pkg/replay``): steps are consumed in order, a step whose ``calls.min`` is met is passed
over (soft advance) when the next one matches, a ``group`` (``mode: unordered``) is matched in any
order and left once its minimums are met, ``stdin`` is compared with trailing newlines trimmed and
CRLF as LF, and ``{{ .regex "..." }}`` matches anywhere in the argument (RE2, as Go's ``regexp``).
Responses are rendered as Go templates over ``meta.vars`` and ``capture`` (gotemplate.py).

Where this runtime differs, on purpose: the run's vars play the part of cli-replay's environment
(they override a ``meta.vars`` key unless ``security.deny_env_vars`` names it; the service's own
environment is never read); ``{{ .var }}`` in ``match.argv`` also matches its rendered value, as
cli-replay's README and cookbook use it (its engine only compares the text literally, which still
matches here too); a template that does not parse or uses what the safe subset leaves out, and a
regex RE2 refuses, are refused at load rather than failing the call that reaches them;
``security.allowed_commands`` is checked at load (cli-replay checks it when ``exec``/``run`` start)
and again on every replayed command. ``when`` is accepted and, as in cli-replay, not evaluated.
``session.ttl`` is validated; replay state here lives as long as the run, so it is not used.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from playbooks_contracts import patterns

from .gotemplate import Template, TemplateError, render_data

# the exact forms cli-replay's matcher recognises (pkg/matcher/argv.go), tried on the stripped item
_ANY = ("{{ .any }}", "{{.any}}")
_REGEX = re.compile(r'^\{\{\s*\.regex\s+"(.+?)"\s*\}\}$', re.DOTALL)
_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GO_DURATION = re.compile(r"^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DELAY_SECONDS = 24 * 3600


def go_duration(value: Any) -> float:
    """Seconds from a Go duration string (``time.ParseDuration``: "1h30m", "500ms", "0"); numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a Go duration string such as '30s' or '1h30m'")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _GO_DURATION.match(text):
        raise ValueError(f"{value!r} is not a Go duration (e.g. '30s', '1h30m', '500ms')")
    sign = -1.0 if text.startswith("-") else 1.0
    total = sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text))
    return sign * total


def _scalar_text(value: Any) -> Any:
    # yaml.v3 decodes any scalar into a Go string field as its text: `port: 8080` is "8080"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_scalar_text)]


def glob_denied(name: str, globs: list[str]) -> bool:
    """Go's ``path.Match`` over ``globs`` (``*``, ``?``, ``[...]``, ``\\`` escapes); names hold no '/'."""
    return any(_glob_regex(g).fullmatch(name) for g in globs)


def _glob_regex(glob: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= len(glob):
                raise ValueError(f"deny_env_vars pattern {glob!r} ends with an escape")
            out.append(re.escape(glob[i + 1]))
            i += 1
        elif c == "[":
            close = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("^", "]") else i + 1)
            if close < 0:
                raise ValueError(f"deny_env_vars pattern {glob!r} has an unclosed '['")
            body = glob[i + 1 : close]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                raise ValueError(f"deny_env_vars pattern {glob!r} has an empty character class")
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Security(_Strict):
    allowed_commands: list[str] = Field(default_factory=list)
    deny_env_vars: list[str] = Field(default_factory=list)

    @field_validator("deny_env_vars")
    @classmethod
    def _globs(cls, globs: list[str]) -> list[str]:
        for i, g in enumerate(globs):
            if not g:
                raise ValueError(f"deny_env_vars[{i}]: must be non-empty")
            # cli-replay skips a malformed pattern (its deny list fails open); here it is refused instead
            _glob_regex(g)
        return globs


class Session(_Strict):
    ttl: Annotated[float, BeforeValidator(go_duration)] | None = None

    @field_validator("ttl")
    @classmethod
    def _positive(cls, ttl: float | None) -> float | None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        return ttl


class ScenarioMeta(_Strict):
    name: str
    description: str = ""
    vars: dict[str, ScalarText] = Field(default_factory=dict)
    security: Security = Field(default_factory=Security)
    session: Session = Field(default_factory=Session)

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name must be non-empty")
        return name


class Match(_Strict):
    argv: list[ScalarText] = Field(min_length=1)
    stdin: str | None = None

    @field_validator("argv")
    @classmethod
    def _regexes_compile(cls, argv: list[str]) -> list[str]:
        # refused here, when the scenario is submitted, rather than while a run is replaying it
        for item in argv:
            if m := _REGEX.match(item.strip()):
                try:
                    patterns.compile_pattern(m.group(1))
                except patterns.PatternError as exc:
                    raise ValueError(f"{item!r}: {exc}") from None
        return argv


def _template(text: str | None, where: str) -> Template | None:
    if not text:
        return None
    try:
        return Template(text)
    except TemplateError as exc:
        raise ValueError(f"{where} is not a template this runtime can render safely: {exc}") from None


class Respond(_Strict):
    exit: int = Field(default=0, ge=0, le=255)
    stdout: str | None = None
    stdout_file: str | None = None
    stderr: str | None = None
    stderr_file: str | None = None
    delay: Annotated[float, BeforeValidator(go_duration)] | None = None
    capture: dict[str, ScalarText] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Respond:
        # cli-replay treats an empty string as unset: `stdout: ""` beside stdout_file is accepted
        if self.stdout and self.stdout_file:
            raise ValueError("stdout and stdout_file are mutually exclusive")
        if self.stderr and self.stderr_file:
            raise ValueError("stderr and stderr_file are mutually exclusive")
        for key in self.capture:
            if not _IDENT.match(key):
                raise ValueError(f"capture identifier {key!r} must match [a-zA-Z_][a-zA-Z0-9_]*")
        if self.delay is not None and not 0 <= self.delay <= MAX_DELAY_SECONDS:
            raise ValueError("delay must be between 0 and 24h")
        _template(self.stdout, "stdout")
        _template(self.stderr, "stderr")
        return self

    def templates(self) -> list[Template]:
        return [t for t in (_template(self.stdout, "stdout"), _template(self.stderr, "stderr")) if t is not None]


class Calls(_Strict):
    # cli-replay's defaults once `calls` is written: a missing min is 0, a missing max takes min
    min: int = 0
    max: int = 0

    @model_validator(mode="after")
    def _order(self) -> Calls:
        if self.max == 0 and self.min > 0:
            self.max = self.min
        if self.min < 0:
            raise ValueError(f"calls.min must be >= 0, got {self.min}")
        if self.max < 1:
            raise ValueError(f"calls.max must be >= 1, got {self.max}")
        if self.min > self.max:
            raise ValueError(f"calls.min ({self.min}) must be <= calls.max ({self.max})")
        return self


class ScenarioStep(_Strict):
    match: Match
    respond: Respond = Field(default_factory=Respond)
    calls: Calls = Field(default_factory=lambda: Calls(min=1, max=1))
    when: str | None = None  # reserved by cli-replay and not evaluated there either


class Group(_Strict):
    mode: str
    name: str | None = None
    steps: list[ScenarioStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _mode(self) -> Group:
        if self.mode != "unordered":
            raise ValueError(f'unsupported group mode {self.mode!r}: only "unordered" is supported')
        return self


class GroupEntry(_Strict):
    group: Group


def _kind(value: Any) -> str:
    # as cli-replay's loader: an element holding a `group` key is a group, anything else a step
    if isinstance(value, dict):
        return "group" if "group" in value else "step"
    return "group" if isinstance(value, GroupEntry) else "step"


Element = Annotated[Annotated[ScenarioStep, Tag("step")] | Annotated[GroupEntry, Tag("group")], Discriminator(_kind)]


class Scenario(_Strict):
    meta: ScenarioMeta
    steps: list[Element] = Field(min_length=1)

    def flat_steps(self) -> list[ScenarioStep]:
        out: list[ScenarioStep] = []
        for entry in self.steps:
            out += entry.group.steps if isinstance(entry, GroupEntry) else [entry]
        return out

    def group_ranges(self) -> list[tuple[int, int, str]]:
        """(start, end, name) of each group over the flat steps; unnamed groups are group-1, group-2, ..."""
        out, flat, n = [], 0, 0
        for entry in self.steps:
            if isinstance(entry, GroupEntry):
                n += 1
                size = len(entry.group.steps)
                out.append((flat, flat + size, entry.group.name or f"group-{n}"))
                flat += size
            else:
                flat += 1
        return out

    @model_validator(mode="after")
    def _captures_and_commands(self) -> Scenario:
        flat = self.flat_steps()
        for i, step in enumerate(flat):
            for key in step.respond.capture:
                if key in self.meta.vars:
                    raise ValueError(f"step {i}: capture identifier {key!r} conflicts with meta.vars key {key!r}")
        defined: set[str] = set()
        for i, step in enumerate(flat):
            for template in step.respond.templates():
                for ref in template.capture_refs():
                    if ref in defined:
                        continue
                    later = next((j for j in range(i + 1, len(flat)) if ref in flat[j].respond.capture), None)
                    if later is not None:
                        raise ValueError(
                            f"step {i} references capture {ref!r} first defined at step {later} (forward reference)"
                        )
            defined |= set(step.respond.capture)
        allowed = self.meta.security.allowed_commands
        if allowed:
            for i, step in enumerate(flat):
                program = posixpath.basename(step.match.argv[0])
                if program not in allowed:
                    raise ValueError(
                        f"step {i}: command {program!r} is not in meta.security.allowed_commands {allowed}"
                    )
        return self


class ScenarioInvalid(ValueError):
    """A scenario cli-replay's loader would refuse (or this runtime cannot replay safely), with the reason."""


def _where(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        # the discriminator's tag after a step index says nothing a reader needs
        tag = i >= 1 and isinstance(loc[i - 1], int) and part in ("step", "group") and i + 1 < len(loc)
        if tag and (part == "step" or loc[i + 1] == "group"):
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(document)"


def parse_scenario(doc: Any) -> Scenario:
    """The scenario in ``doc`` (parsed YAML), or :class:`ScenarioInvalid` naming the first problem and where."""
    if doc is None:
        raise ScenarioInvalid("empty scenario file")
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ScenarioInvalid(f"invalid scenario at {_where(tuple(first['loc']))}: {message}{more}") from None


class ReplayMismatch(Exception):
    """The runbook issued a command the scenario does not expect at this point."""


class Reply(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False


def normalize_stdin(text: str) -> str:
    """cli-replay's stdin comparison: CRLF as LF, trailing newlines trimmed."""
    return text.replace("\r\n", "\n").rstrip("\n")


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


# what a template may write at most when no output cap is given (the local CLI)
RENDER_LIMIT = 16 * 1024 * 1024


class Replayer:
    """Answers commands from a scenario, offline, as cli-replay's replay engine does; keeps call counts.

    ``vars_`` are the run's vars: they override ``meta.vars`` keys (non-empty values only) the way
    the environment does in cli-replay, unless ``security.deny_env_vars`` names the key. Nothing
    else reaches a template. ``output_cap`` bounds each reply's stdout and stderr (head and tail
    kept; a template stops writing past it); ``max_delay`` bounds a ``respond.delay``, slept where
    the replay runs: a worker thread in the service, never its event loop.
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
        meta = scenario.meta
        self.vars = dict(meta.vars)
        for name, value in (vars_ or {}).items():
            if name in self.vars and value != "" and not glob_denied(name, meta.security.deny_env_vars):
                self.vars[name] = value
        self.flat = scenario.flat_steps()
        self.groups = scenario.group_ranges()
        self.labels = self._labels()
        self.counts = [0] * len(self.flat)
        self.current = 0
        self.captures: dict[str, str] = {}
        self._argv_templates: dict[str, Template | None] = {}
        self._templates: dict[str, Template] = {}  # parsed responses, so a polled step parses once

    def _labels(self) -> list[str]:
        out: list[str] = []
        n = 0
        for i, entry in enumerate(self.scenario.steps):
            if isinstance(entry, GroupEntry):
                n += 1
                name = entry.group.name or f"group-{n}"
                out += [f"{name}.steps[{j}]" for j in range(len(entry.group.steps))]
            else:
                out.append(f"step[{i}]")
        return out

    # -- matching, as pkg/replay/engine.go --------------------------------------------------------

    def _group_of(self, index: int) -> int:
        return next((g for g, (s, e, _) in enumerate(self.groups) if s <= index < e), -1)

    def _room(self, i: int) -> bool:
        return self.counts[i] < self.flat[i].calls.max

    def _group_maxed(self, g: int) -> bool:
        s, e, _ = self.groups[g]
        return all(not self._room(i) for i in range(s, e))

    def _group_mins_met(self, g: int) -> bool:
        s, e, _ = self.groups[g]
        return all(self.counts[i] >= self.flat[i].calls.min for i in range(s, e))

    def _element(self, want: str, got: str) -> bool:
        if want == got:
            return True
        if "{{" not in want:
            return False
        trimmed = want.strip()
        if trimmed in _ANY:
            return True
        if m := _REGEX.match(trimmed):
            try:
                return patterns.search(m.group(1), got)
            except patterns.PatternError:
                return False  # cli-replay: an invalid regex matches nothing
        # beyond cli-replay's engine, as its README and cookbook write argv: {{ .var }} rendered
        if want not in self._argv_templates:
            try:
                self._argv_templates[want] = Template(want)
            except TemplateError:
                self._argv_templates[want] = None
        template = self._argv_templates[want]
        if template is None:
            return False
        try:
            text, cut = template.render(render_data(self.vars, self.captures), limit=len(got.encode()) + 1)
        except TemplateError:
            return False
        return not cut and text == got

    def _matches(self, i: int, argv: list[str]) -> bool:
        pattern = self.flat[i].match.argv
        return len(pattern) == len(argv) and all(self._element(w, g) for w, g in zip(pattern, argv, strict=True))

    def _mismatch(self, index: int, argv: list[str], expected: list[int], note: str = "") -> ReplayMismatch:
        where = self.labels[index] if index < len(self.labels) else "end"
        lines = [f"unexpected command at scenario {where}{note}:"]
        lines += [f"  - expected: {self.flat[i].match.argv!r}" for i in expected]
        return ReplayMismatch("\n".join([*lines, f"  + actual:   {argv!r}"]))

    def _complete(self, argv: list[str]) -> ReplayMismatch:
        return ReplayMismatch(
            f"unexpected command {argv!r}: the scenario has no steps left (all {len(self.flat)} steps consumed)"
        )

    def answer(self, argv: list[str], stdin: str | None = None) -> Reply:
        allowed = self.scenario.meta.security.allowed_commands
        if allowed and posixpath.basename(argv[0] if argv else "") not in allowed:
            raise ReplayMismatch(
                f"command {posixpath.basename(argv[0]) if argv else ''!r} is not in the scenario's "
                f"meta.security.allowed_commands {allowed}"
            )
        n = len(self.flat)
        if self.current >= n:
            raise self._complete(argv)
        index = self.current
        while index < n:  # pass over exhausted steps and groups
            g = self._group_of(index)
            if g >= 0:
                if self._group_maxed(g):
                    index = self.groups[g][1]
                    continue
                break
            if self._room(index):
                break
            index += 1
        self.current = max(self.current, index)
        if index >= n:
            raise self._complete(argv)
        g = self._group_of(index)
        matched = self._match_in_group(g, argv) if g >= 0 else self._match_ordered(index, argv)
        step = self.flat[matched]
        if step.match.stdin and normalize_stdin(stdin or "") != normalize_stdin(step.match.stdin):
            raise ReplayMismatch(
                f"stdin mismatch at scenario {self.labels[matched]} ({argv!r}):\n"
                f"  - expected: {step.match.stdin!r}\n  + actual:   {(stdin or '')!r}"
            )
        self.counts[matched] += 1
        if g >= 0 and self._group_of(matched) == g:
            if self._group_maxed(g):
                self.current = self.groups[g][1]
        elif not self._room(matched):
            self.current = matched + 1
        reply = self._respond(step.respond, self.labels[matched])
        self.captures |= step.respond.capture
        return reply

    def _match_in_group(self, g: int, argv: list[str]) -> int:
        s, e, name = self.groups[g]
        for i in range(s, e):
            if self._room(i) and self._matches(i, argv):
                return i
        if not self._group_mins_met(g):
            candidates = [i for i in range(s, e) if self._room(i)]
            raise self._mismatch(s, argv, candidates, f" (unordered group {name!r})")
        # soft advance past the group: its minimums are met
        self.current = e
        if e < len(self.flat):
            if self._matches(e, argv):
                return e
            raise self._mismatch(e, argv, [e])
        raise self._complete(argv)

    def _match_ordered(self, index: int, argv: list[str]) -> int:
        if self._matches(index, argv):
            return index
        original = index
        if self.counts[index] >= self.flat[index].calls.min and index + 1 < len(self.flat):
            nxt = index + 1
            g = self._group_of(nxt)
            if g >= 0:
                s, e, _ = self.groups[g]
                self.current = nxt
                for i in range(s, e):
                    if self._room(i) and self._matches(i, argv):
                        return i
                raise self._mismatch(original, argv, [original, *range(s, e)])
            self.current = nxt
            if self._matches(nxt, argv):
                return nxt
            raise self._mismatch(original, argv, [original, nxt])
        raise self._mismatch(original, argv, [original])

    # -- responding -------------------------------------------------------------------------------

    def _source(self, inline: str | None, file: str | None) -> tuple[str, bool]:
        if file is None:
            return inline or "", False
        if self.base_dir is None:
            raise ReplayMismatch(f"{file!r}: a scenario without a folder cannot refer to files")
        path = (self.base_dir / file).resolve()
        if not path.is_relative_to(self.base_dir.resolve()):
            raise ReplayMismatch(f"{file!r} is outside the scenario folder")
        try:
            if self.output_cap is not None:
                return _read_bounded(path, self.output_cap)
            return path.read_text(), False
        except OSError as exc:
            raise ReplayMismatch(f"failed to read {file!r}: {exc.strerror or exc}") from None

    def _render(self, text: str, cut: bool, where: str) -> tuple[str, bool]:
        if cut or "{{" not in text:
            # a file already cut to head and tail is served as it is: half a template cannot render
            return bounded_text(text, self.output_cap) if self.output_cap is not None and not cut else (text, cut)
        try:
            if text not in self._templates:
                self._templates[text] = Template(text)
            template = self._templates[text]
            limit = self.output_cap if self.output_cap is not None else RENDER_LIMIT
            out, over = template.render(render_data(self.vars, self.captures), limit=limit)
        except TemplateError as exc:
            raise ReplayMismatch(f"failed to render {where} template: {exc}") from None
        if over:
            return out + f"\n…[template output cut at {limit} bytes]…\n", True
        return bounded_text(out, self.output_cap) if self.output_cap is not None else (out, False)

    def _respond(self, respond: Respond, label: str) -> Reply:
        if respond.delay:
            time.sleep(respond.delay if self.max_delay is None else min(respond.delay, self.max_delay))
        stdout, cut_out = self._render(*self._source(respond.stdout, respond.stdout_file), f"{label} stdout")
        stderr, cut_err = self._render(*self._source(respond.stderr, respond.stderr_file), f"{label} stderr")
        return Reply(exit_code=respond.exit, stdout=stdout, stderr=stderr, truncated=cut_out or cut_err)

    # -- reporting and state ----------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """Each scenario step's call count against its min/max (``runbook replay-verify``)."""
        return [
            {
                "step": self.labels[i],
                "argv": step.match.argv,
                "calls": self.counts[i],
                "min": step.calls.min,
                "max": step.calls.max,
                "ok": step.calls.min <= self.counts[i] <= step.calls.max,
            }
            for i, step in enumerate(self.flat)
        ]

    def dump(self) -> dict[str, Any]:
        """Progress through the scenario, kept in the run state so a paused replay resumes in place."""
        return {"current": self.current, "counts": list(self.counts), "captures": dict(self.captures)}

    def load(self, saved: dict[str, Any]) -> None:
        if not saved:
            return
        if "current" in saved:
            self.current, self.counts, self.captures = saved["current"], list(saved["counts"]), saved["captures"]
            return
        # a snapshot from before the flat-step engine: counts per entry, captures merged into vars
        flat_counts = [c for entry in saved["counts"] for c in entry]
        starts = [0]
        for entry in saved["counts"]:
            starts.append(starts[-1] + len(entry))
        self.counts = flat_counts if len(flat_counts) == len(self.flat) else self.counts
        self.current = starts[min(saved["position"], len(starts) - 1)]
        self.captures = {k: v for k, v in saved.get("vars", {}).items() if k not in self.scenario.meta.vars}
