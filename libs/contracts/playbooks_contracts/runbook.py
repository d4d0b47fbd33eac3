"""The runbook format (``apiVersion: runbook/v0``): a governed, data-only description of an
incident procedure. A document has ``apiVersion``, ``meta`` and ``steps``. ``meta`` holds ``name``,
``description``, optional ``version``, ``vars`` (string defaults, overridable per run) and
``governance``: ``allowed_commands`` (program names or absolute paths; the runtime checks the
*resolved* executable, so ``/usr/bin/rm`` cannot pass for ``ls``), ``deny_commands`` (an extra
blocklist), ``commands`` (per-program rules: allowed and denied subcommands, denied flags; the one
command policy in :mod:`playbooks_contracts.command_policy` decides on the whole argv, and a
runbook may only narrow its org's policy), ``deny_env_vars`` (glob patterns such as ``SECRET_*``;
templates never read those; a template value may not start an argv item with ``-`` unless its var
is declared ``flag: true``),
``redact`` (``pattern`` regex + ``replace``, applied to output before it is stored),
``evidence`` (``require_for_manual``, ``store_full_stdout``) and ``default_timeout``. Each step has
a unique ``id`` and a ``type``: ``cli`` (``with.argv`` is a list of strings, never a shell line,
plus optional ``with.stdin``; ``capture`` maps a capture name to ``stdout``, ``stderr`` or
``exit_code``; ``assertions`` are one-key objects ``contains``, ``not_contains``, ``equals``,
``matches`` (regex) on stdout unless ``on: stderr``, or ``exit_code``; ``timeout`` like ``30s``/
``2m``/a number of seconds; ``retry`` ``{attempts, delay, strategy: fixed|exponential}``),
``manual`` (``title``, ``instructions``, ``required_evidence`` items of kind ``text``,
``checklist`` (with ``items``) or ``attachment``, ``approvals {min, roles}``, ``replay_mode``:
``reuse_evidence`` | ``require_new``) and ``group`` (``title`` and nested ``steps``; groups do not
nest); ``checkpoint`` (``title``, ``instructions``): the run pauses there until a permitted person,
not the requester, confirms, having been shown the rest of the plan. Every leaf step may declare
``needs`` (step ids it runs after: the runtime orders steps topologically, declaration order among
ready ones; cycles and unknown ids are refused; in a runbook that uses ``needs`` a failed step skips
only its dependents), ``produces`` (``{name, signature}``: an artifact, its signature a template over
vars and captures of steps it needs, resolved before the step runs) with ``on_duplicate``
(``reuse`` | ``fail``, when the org already holds an artifact with that signature), and cli and manual
steps ``checkpoint: true`` (pause for a confirmation before the step).
Templates are written ``{{ .name }}`` and must name a var or a capture of an earlier step.
Braces that belong to another tool (``kubectl --template='{{range .items}}...'``, Go or Jinja
templates) are written with the escape ``{{ "{{" }}`` (Go's own): it renders to a literal ``{{`` and
is never read as a template, in argv items, stdin and instructions alike.
Unknown fields are rejected with the path of the offender. Use :func:`parse_runbook` (raises
:class:`RunbookInvalid` with every problem and its location), :func:`validate_runbook` (the list of
problems) and :func:`runbook_json_schema` (the JSON Schema exported to ``proto-contracts/``).
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .patterns import PatternError, compile_pattern
from .policy import CommandRule
from .templating import BRACE_ESCAPE as BRACE_ESCAPE
from .templating import LITERAL_BRACES as LITERAL_BRACES
from .templating import escape_braces as escape_braces
from .templating import unescape as unescape  # the escape is the shared language's

API_VERSION = "runbook/v0"
_GROUP_REF = re.compile(r"\\g<([^>]*)>|\\(\d+)")

IDENT = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
STEP_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# ``{{ .name }}``: the platform's one template form (playbooks_contracts.templating) with a single
# name, a var or a capture: the only template a runbook may use (no functions, no pipelines).
TEMPLATE_REF = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# RE2: with Python's re, 20,000 characters of "{{" took 12.8 s here (each start scans to the end)
ANY_TEMPLATE = compile_pattern(r"\{\{.*?\}\}")
_TEMPLATE_OR_ESCAPE = re.compile(BRACE_ESCAPE.pattern + "|" + TEMPLATE_REF.pattern)


def is_template(text: str) -> bool:
    """Whether a ``{{...}}`` span is allowed: a ``{{ .name }}`` reference or the literal-brace escape."""
    return bool(TEMPLATE_REF.fullmatch(text) or BRACE_ESCAPE.fullmatch(text))


def render_text(text: str, value: Callable[[str], str]) -> str:
    """``{{ .name }}`` replaced by ``value(name)`` and the escape by ``{{``, in one pass (a value is
    never read again, so a value holding braces stays as it is)."""
    return _TEMPLATE_OR_ESCAPE.sub(lambda m: value(m.group(1)) if m.group(1) else "{{", text)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

Ident = Annotated[str, Field(pattern=IDENT)]
StepId = Annotated[str, Field(pattern=STEP_ID)]


def parse_duration(value: float | int | str) -> float:
    """``30`` / ``"30s"`` / ``"1.5m"`` / ``"500ms"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30, '30s', '2m', '500ms')")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= 24 * 3600:
        raise ValueError("a duration must be above 0 and at most 24h")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ],
            "description": "Seconds, or a string such as '30s', '2m', '500ms'.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Redaction(_Strict):
    pattern: str = Field(min_length=1, description="RE2 regular expression (no backreferences or lookaround).")
    replace: str = Field(default="<redacted>", description=r"Replacement; \1 names a group.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_pattern(value)
        except PatternError as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _groups_exist(self) -> Redaction:
        # RE2 only finds a bad group reference when a match happens, in the middle of a run: refuse it here
        compiled = compile_pattern(self.pattern)
        if (len(self.replace) - len(self.replace.rstrip("\\"))) % 2:
            raise ValueError("replace ends with a lone backslash")
        for ref in _GROUP_REF.findall(self.replace):
            name = ref[0] or ref[1]
            known = name in compiled.groupindex if not name.isdigit() else int(name) <= compiled.groups
            if not known:
                raise ValueError(f"replace refers to group {name!r}, which the pattern does not have")
        return self


class EvidencePolicy(_Strict):
    require_for_manual: bool = True
    store_full_stdout: bool = False


class Governance(_Strict):
    allowed_commands: list[str] = Field(
        default_factory=list,
        description="Program names or absolute paths allowed as argv[0], checked on the resolved executable. "
        "Empty means nothing may run.",
    )
    deny_commands: list[str] = Field(
        default_factory=list, description="Programs refused even when allowed (a blocklist of dangerous commands)."
    )
    commands: dict[str, CommandRule] = Field(
        default_factory=dict,
        description="Per-program rules (subcommands, denied flags), e.g. kubectl: {allow: [get, logs]}; a program "
        "with a rule is allowed. A runbook's rules only narrow the org's policy.",
    )
    deny_env_vars: list[str] = Field(default_factory=list, description="Glob patterns of environment variables.")
    redact: list[Redaction] = Field(default_factory=list)
    evidence: EvidencePolicy = Field(default_factory=EvidencePolicy)
    default_timeout: Duration = 60.0

    @field_validator("allowed_commands", "deny_commands")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or any(c in name for c in " \t\n;|&$`"):
                raise ValueError(f"{name!r} is not a program name or path")
        return value

    def env_denied(self, name: str) -> bool:
        """True when an environment variable matches one of the deny patterns."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.deny_env_vars)


class VarSpec(_Strict):
    """A declared var. In YAML a bare string is shorthand for ``{default: "..."}``."""

    default: str | None = Field(default=None, description="Used when the run request gives no value.")
    description: str = ""
    secret: bool = Field(
        default=False, description="Masked in run bodies, snapshots, the trace, messages and logs; never shown back."
    )
    flag: bool = Field(
        default=False, description="The value may start with '-' (become an option); otherwise such a value is refused."
    )
    allowed: list[str] | None = Field(default=None, description="The only values a run may give it.")

    @field_validator("default", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML turns `replicas: 3` into an int; vars are always substituted as text.
        return value if value is None or isinstance(value, str | dict | list) else str(value)

    def refusal(self, value: str) -> Literal["not_allowed", "option"] | None:
        """Why a run may not give this var ``value`` (None when it may): ``not_allowed``, a value outside
        ``allowed``; ``option``, a value starting with '-' (on a command line it would become an option)
        when the var is not a ``flag``. Callers word the refusal, and never show a secret's values."""
        if self.allowed is not None and value not in self.allowed:
            return "not_allowed"
        if value.startswith("-") and not self.flag:
            return "option"
        return None


class Meta(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: str | None = None
    # ``str`` is there for the JSON Schema (editors accept the shorthand); values are always VarSpec.
    vars: dict[Ident, VarSpec | str] = Field(default_factory=dict)
    governance: Governance = Field(default_factory=Governance)

    @field_validator("vars", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, dict | list | VarSpec) else {"default": v} for k, v in value.items()}
        return value

    def spec(self, name: str) -> VarSpec:
        value = self.vars[name]
        return value if isinstance(value, VarSpec) else VarSpec(default=value)

    def defaults(self) -> dict[str, str]:
        """Each var's default value ("" when it has none)."""
        return {name: self.spec(name).default or "" for name in self.vars}

    def secret_vars(self) -> set[str]:
        return {name for name in self.vars if self.spec(name).secret}


class CliWith(_Strict):
    argv: list[str] = Field(
        min_length=1,
        description="Program and arguments; never a shell command line. Templates are {{ .name }}; "
        'write literal braces (another tool\'s template) as {{ "{{" }}.',
    )
    stdin: str | None = None

    @field_validator("argv")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("argv[0] (the program) is empty")
        if len(value) == 1 and " " in value[0].strip():
            raise ValueError(f"argv[0] {value[0]!r} looks like a shell command line; split it into a list of arguments")
        return value


class Assertion(_Strict):
    """Exactly one check; text checks apply to ``on`` (stdout by default)."""

    contains: str | None = None
    not_contains: str | None = None
    equals: str | None = None
    matches: str | None = None
    exit_code: int | None = None
    on: Literal["stdout", "stderr"] = "stdout"

    @model_validator(mode="after")
    def _exactly_one(self) -> Assertion:
        set_ = [
            k for k in ("contains", "not_contains", "equals", "matches", "exit_code") if getattr(self, k) is not None
        ]
        if len(set_) != 1:
            raise ValueError(
                "an assertion has exactly one of contains, not_contains, equals, matches, exit_code"
                + (f" (got {', '.join(set_)})" if set_ else "")
            )
        if self.matches is not None:
            try:
                compile_pattern(self.matches)
            except PatternError as exc:
                raise ValueError(f"matches: invalid regular expression: {exc}") from None
        return self

    @property
    def kind(self) -> str:
        return next(
            k for k in ("contains", "not_contains", "equals", "matches", "exit_code") if getattr(self, k) is not None
        )


class Retry(_Strict):
    attempts: int = Field(default=1, ge=1, le=10, description="Total attempts, the first included.")
    delay: Duration = 1.0
    strategy: Literal["fixed", "exponential"] = "fixed"


class Produces(_Strict):
    """An artifact a step makes; its signature says what it is, so a second run can recognise it."""

    name: Ident = Field(description="What kind of artifact (rds_snapshot, checkout_page, ...).")
    signature: str = Field(
        min_length=1,
        max_length=500,
        description="A template over vars and captures of the steps this one needs, e.g. "
        "'rds-snapshot:{{ .instance_id }}:{{ .date }}'; resolved before the step runs. Secret vars are refused.",
    )


Needs = Annotated[
    list[StepId],
    Field(description="Step ids this step runs after; a failed one skips this step (runbooks that use needs)."),
]
OnDuplicate = Annotated[
    Literal["reuse", "fail"] | None,
    Field(
        description="When the org already holds an artifact with this step's signature: reuse it without running "
        "the step, or fail the run. Unset: the step runs as always."
    ),
]


class CliStep(_Strict):
    id: StepId
    type: Literal["cli"]
    title: str = ""
    needs: Needs = Field(default_factory=list)
    produces: Produces | None = None
    on_duplicate: OnDuplicate = None
    checkpoint: bool = Field(default=False, description="Pause before this step until a permitted person confirms.")
    with_: CliWith = Field(alias="with")
    capture: dict[Ident, Literal["stdout", "stderr", "exit_code"]] = Field(default_factory=dict)
    assertions: list[Assertion] = Field(default_factory=list)
    timeout: Duration | None = None
    retry: Retry = Field(default_factory=Retry)
    required: bool = Field(default=True, description="verify fails when a required step did not pass.")


class EvidenceItem(_Strict):
    kind: Literal["text", "checklist", "attachment"]
    name: Ident
    items: list[str] = Field(default_factory=list, description="Checklist entries (kind checklist only).")
    optional: bool = False

    @model_validator(mode="after")
    def _items(self) -> EvidenceItem:
        if self.kind == "checklist" and not self.items:
            raise ValueError(f"checklist {self.name!r} needs at least one item")
        if self.kind != "checklist" and self.items:
            raise ValueError(f"items only apply to a checklist, not to {self.kind} {self.name!r}")
        return self


class Approvals(_Strict):
    min: int = Field(default=1, ge=0, le=20)
    roles: list[str] = Field(default_factory=list, description="Any of these roles counts; empty means any role.")


class ManualStep(_Strict):
    id: StepId
    type: Literal["manual"]
    title: str = Field(min_length=1)
    needs: Needs = Field(default_factory=list)
    produces: Produces | None = None
    on_duplicate: OnDuplicate = None
    checkpoint: bool = Field(default=False, description="Pause before this step until a permitted person confirms.")
    instructions: str = Field(
        default="", description='Markdown for the operator; {{ .name }} templates, literal braces as {{ "{{" }}.'
    )
    required_evidence: list[EvidenceItem] = Field(default_factory=list)
    approvals: Approvals | None = None
    replay_mode: Literal["reuse_evidence", "require_new"] = "require_new"
    required: bool = True

    @field_validator("required_evidence")
    @classmethod
    def _unique(cls, value: list[EvidenceItem]) -> list[EvidenceItem]:
        names = [item.name for item in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"evidence names must be unique: {', '.join(dup)}")
        return value


class CheckpointStep(_Strict):
    """A pause before what follows (publishing, payments): shows the rest of the plan and waits for a
    confirmation by a permitted person other than the run's requester; replayed evidence never counts."""

    id: StepId
    type: Literal["checkpoint"]
    title: str = Field(min_length=1)
    instructions: str = Field(default="", description="What to check before confirming; {{ .name }} templates.")
    needs: Needs = Field(default_factory=list)
    required: bool = True

    # read like the other leaves' fields, so every step is read the same way; a checkpoint makes nothing
    @property
    def checkpoint(self) -> bool:
        return True

    @property
    def produces(self) -> None:
        return None

    @property
    def on_duplicate(self) -> None:
        return None


Leaf = CliStep | ManualStep | CheckpointStep
LeafStep = Annotated[CliStep | ManualStep | CheckpointStep, Field(discriminator="type")]


class GroupStep(_Strict):
    id: StepId
    type: Literal["group"]
    title: str = ""
    steps: list[LeafStep] = Field(min_length=1)


Step = Annotated[CliStep | ManualStep | CheckpointStep | GroupStep, Field(discriminator="type")]


class Runbook(_Strict):
    api_version: Literal["runbook/v0"] = Field(alias="apiVersion")
    meta: Meta
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Runbook:
        problems = cross_check(self)
        if problems:
            raise ValueError("; ".join(f"{loc}: {msg}" for loc, msg in problems))
        return self

    def leaf_steps(self) -> list[Leaf]:
        """Steps in execution order, groups flattened: declaration order, or with ``needs`` the stable
        topological order (among the steps whose needs are met, the one declared first)."""
        leaves = [leaf for _, leaf in iter_leaves(self)]
        if not self.uses_needs:
            return leaves
        order, _ = execution_order(leaves)
        return order if order is not None else leaves

    @property
    def uses_needs(self) -> bool:
        """A runbook with any ``needs`` runs as a graph: a failure skips only the failed step's dependents."""
        return any(leaf.needs for _, leaf in iter_leaves(self))


def iter_leaves(runbook: Runbook) -> Iterator[tuple[str, Leaf]]:
    """(location, step) for every executable step, in order."""
    for i, step in enumerate(runbook.steps):
        if isinstance(step, GroupStep):
            for j, inner in enumerate(step.steps):
                yield f"steps[{i}].steps[{j}]", inner
        else:
            yield f"steps[{i}]", step


def template_refs(text: str) -> list[str]:
    return TEMPLATE_REF.findall(text)


def execution_order(leaves: list[Leaf]) -> tuple[list[Leaf] | None, list[list[str]]]:
    """(the stable topological order, None if there are cycles; the cycles found, each as step ids).

    Kahn's algorithm with a heap of declaration indexes: iterative and O(n log n + edges), so a
    5,000-step chain or a dense graph orders without recursion. Needs naming unknown ids are ignored
    here (``cross_check`` reports them)."""
    index: dict[str, int] = {}
    for i, leaf in enumerate(leaves):
        index.setdefault(leaf.id, i)
    dependents: list[list[int]] = [[] for _ in leaves]
    waiting = [0] * len(leaves)
    for i, leaf in enumerate(leaves):
        for need in dict.fromkeys(leaf.needs):
            j = index.get(need)
            if j is not None and j != i:
                dependents[j].append(i)
                waiting[i] += 1
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in dependents[i]:
            waiting[k] -= 1
            if waiting[k] == 0:
                heapq.heappush(ready, k)
    if len(order) == len(leaves):
        return [leaves[i] for i in order], []
    return None, _cycles(leaves, index, {i for i, n in enumerate(waiting) if n > 0})


def _cycles(leaves: list[Leaf], index: dict[str, int], left: set[int]) -> list[list[str]]:
    """One cycle per tangle among the steps Kahn's algorithm could not order (an iterative walk)."""
    cycles: list[list[str]] = []
    done: set[int] = set()
    for start in sorted(left):
        if start in done:
            continue
        # every step left waits on another step left: following needs must come back to a visited step
        path: list[int] = []
        on_path: dict[int, int] = {}
        node = start
        while node not in on_path and node not in done:
            on_path[node] = len(path)
            path.append(node)
            node = next(j for j in (index.get(n) for n in leaves[node].needs) if j is not None and j in left)
        if node in on_path:
            loop = path[on_path[node] :]
            cycles.append([leaves[i].id for i in loop] + [leaves[loop[0]].id])
        done |= set(path)
    return cycles


def _needs_problems(runbook: Runbook) -> tuple[list[tuple[str, str]], list[Leaf] | None]:
    """Problems of ``needs`` (unknown ids, a group, the step itself, cycles) and the execution order."""
    problems: list[tuple[str, str]] = []
    leaves = list(iter_leaves(runbook))
    leaf_ids = {leaf.id for _, leaf in leaves}
    group_ids = {s.id for s in runbook.steps if isinstance(s, GroupStep)}
    for loc, leaf in leaves:
        for k, need in enumerate(leaf.needs):
            where = f"{loc}.needs[{k}]"
            if need == leaf.id:
                problems.append((where, f"step {leaf.id!r} needs itself"))
            elif need in group_ids and need not in leaf_ids:
                problems.append((where, f"step {leaf.id!r} needs {need!r}, a group: name one of its steps"))
            elif need not in leaf_ids:
                problems.append((where, f"step {leaf.id!r} needs {need!r}, which is not a step of this runbook"))
    if not runbook.uses_needs:
        return problems, [leaf for _, leaf in leaves]
    order, cycles = execution_order([leaf for _, leaf in leaves])
    for cycle in cycles[:10]:
        shown = cycle if len(cycle) <= 12 else [*cycle[:10], f"... ({len(cycle) - 1} steps in all)", cycle[-1]]
        problems.append(("steps", f"needs form a cycle: {' -> '.join(shown)}"))
    return problems, order


def ancestors(leaves: list[Leaf], step_id: str) -> set[str]:
    """Every step ``step_id`` needs, directly or through others (an iterative walk)."""
    by_id = {leaf.id: leaf for leaf in reversed(leaves)}
    seen: set[str] = set()
    todo = list(by_id[step_id].needs) if step_id in by_id else []
    while todo:
        need = todo.pop()
        if need in seen or need not in by_id:
            continue
        seen.add(need)
        todo.extend(by_id[need].needs)
    return seen


def cross_check(runbook: Runbook) -> list[tuple[str, str]]:
    """Rules spanning fields: unique ids, needs, resolvable templates, no denied env var in templates."""
    problems = _duplicate_ids(runbook)
    need_problems, order = _needs_problems(runbook)
    problems += need_problems
    locs: dict[str, str] = {}
    for loc, step in iter_leaves(runbook):
        locs.setdefault(step.id, loc)
    # templates may name captures of steps that run earlier: in execution order
    walk = [(locs[s.id], s) for s in order] if order is not None else list(iter_leaves(runbook))
    templates = _Templates(runbook, walk, graph=runbook.uses_needs and order is not None)
    for loc, step in walk:
        problems += templates.step(loc, step)
    return problems


def _duplicate_ids(runbook: Runbook) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for i, step in enumerate(runbook.steps):
        if isinstance(step, GroupStep):
            seen_loc = seen.setdefault(step.id, f"steps[{i}]")
            if seen_loc != f"steps[{i}]":
                problems.append((f"steps[{i}].id", f"duplicate step id {step.id!r} (first at {seen_loc})"))
    for loc, step in iter_leaves(runbook):
        first = seen.setdefault(step.id, loc)
        if first != loc:
            problems.append((f"{loc}.id", f"duplicate step id {step.id!r} (first at {first})"))
    return problems


class _Templates:
    """The templates of each step, checked in execution order: what a template may name is a var or a
    capture of a step before it (one that surely ran, and that the step needs when the runbook has needs)."""

    def __init__(self, runbook: Runbook, walk: list[tuple[str, Leaf]], *, graph: bool) -> None:
        self.runbook, self.walk, self.graph = runbook, walk, graph
        self.known = set(runbook.meta.vars)
        self.captured_by: dict[str, str] = {}
        self.reused: dict[str, bool] = {}
        self.upstream: set[str] | None = None  # the current step's ancestors, when first needed

    def step(self, loc: str, step: Leaf) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        texts: list[tuple[str, str]] = []
        if isinstance(step, CliStep):
            texts += [(f"{loc}.with.argv[{k}]", arg) for k, arg in enumerate(step.with_.argv)]
            if step.with_.stdin is not None:
                texts.append((f"{loc}.with.stdin", step.with_.stdin))
        else:
            texts.append((f"{loc}.instructions", step.instructions))
        if step.on_duplicate is not None and step.produces is None:
            problems.append((f"{loc}.on_duplicate", "on_duplicate needs produces (the artifact it compares)"))
        if step.produces is not None:
            problems += _signature_problems(f"{loc}.produces.signature", step.produces.signature, self.runbook)
            texts.append((f"{loc}.produces.signature", step.produces.signature))
        self.upstream = None
        for where, text in texts:
            for match in ANY_TEMPLATE.findall(text):
                if not is_template(match):
                    problems.append(
                        (
                            where,
                            f"unsupported template {match!r}: only {{{{ .name }}}} is allowed "
                            f"(write literal braces as {LITERAL_BRACES})",
                        )
                    )
            for name in template_refs(text):
                problem = self.ref(step, name)
                if problem is not None:
                    problems.append((where, problem))
        if isinstance(step, CliStep):
            self.known |= set(step.capture)
            for name in step.capture:
                self.captured_by[name] = step.id
        self.reused[step.id] = step.on_duplicate == "reuse"
        return problems

    def ref(self, step: Leaf, name: str) -> str | None:
        """What is wrong with ``step`` naming ``name`` in a template, None when nothing."""
        if name not in self.known:
            if self.runbook.meta.governance.env_denied(name):
                return f"{{{{ .{name} }}}} names a denied environment variable (deny_env_vars)"
            return f"{{{{ .{name} }}}} is neither a var in meta.vars nor a capture of an earlier step"
        producer = self.captured_by.get(name)
        if producer is None or name in self.runbook.meta.vars:
            return None
        if self.reused.get(producer):
            return (
                f"{{{{ .{name} }}}} is a capture of step {producer!r}, which may be reused "
                "(on_duplicate: reuse) without running, so the capture may not exist"
            )
        if self.graph:
            if self.upstream is None:
                self.upstream = ancestors([s for _, s in self.walk], step.id)
            if producer not in self.upstream:
                return (
                    f"{{{{ .{name} }}}} is a capture of step {producer!r}, which step {step.id!r} "
                    "does not need (add it to needs: a failed step skips only its dependents)"
                )
        return None


def _signature_problems(where: str, signature: str, runbook: Runbook) -> list[tuple[str, str]]:
    """A signature is stored and shown in clear to the whole org: no secret var may flow into it."""
    return [
        (where, f"{{{{ .{name} }}}} is a secret var: a signature is stored and shown in clear, so it may not use it")
        for name in template_refs(signature)
        if name in runbook.meta.vars and runbook.meta.spec(name).secret
    ]


class RunbookProblem(BaseModel):
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RunbookInvalid(ValueError):
    """A runbook document that does not validate; ``problems`` lists every one with its location."""

    def __init__(self, problems: list[RunbookProblem]) -> None:
        self.problems = problems
        super().__init__("invalid runbook:\n" + "\n".join(f"  {p}" for p in problems))


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("cli", "manual", "checkpoint", "group"):
            continue  # pydantic's discriminator tags are not part of the document's path
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def secret_var_defaults(document: Any) -> dict[str, Any]:
    """The secret vars of a runbook document as stored (a dict, any shape) that give a default, with
    it: what a reader must not be shown (runbook-runtime masks them; recommendation-agent, whose
    documents every reader gets whole, refuses a non-empty one)."""
    meta = document.get("meta") if isinstance(document, dict) else None
    vars_ = meta.get("vars") if isinstance(meta, dict) else None
    if not isinstance(vars_, dict):
        return {}
    return {
        name: spec["default"]
        for name, spec in vars_.items()
        if isinstance(spec, dict) and spec.get("secret") and spec.get("default") is not None
    }


def validate_runbook(data: Any) -> list[RunbookProblem]:
    """Every problem in a runbook document (already parsed from YAML/JSON), each with its location."""
    if not isinstance(data, dict):
        return [RunbookProblem(location="(document)", message="a runbook is a mapping with apiVersion, meta, steps")]
    try:
        Runbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:
                # the cross-field check packs several problems in one message
                for part in msg.split("; "):
                    loc, _, text = part.partition(": ")
                    problems.append(RunbookProblem(location=loc, message=text))
                continue
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "literal_error" and err["loc"][-1] == "apiVersion":
                msg = f"apiVersion must be {API_VERSION!r}"
            problems.append(RunbookProblem(location=_loc(err["loc"]), message=msg))
        return problems
    return []


def parse_runbook(data: Any) -> Runbook:
    """A validated :class:`Runbook`, or :class:`RunbookInvalid` listing every problem."""
    problems = validate_runbook(data)
    if problems:
        raise RunbookInvalid(problems)
    return Runbook.model_validate(data)


# Where the runbook JSON Schema resolves: every service serves it at this path, and the dev stack's
# compiler at this address, so an editor opening a compiled runbook fetches it from the running
# platform (or from a copy `runbook schema` wrote, mapped in the editor's settings).
RUNBOOK_SCHEMA_PATH = "/schemas/runbook/v0.json"
RUNBOOK_SCHEMA_ID = f"http://127.0.0.1:8006{RUNBOOK_SCHEMA_PATH}"


def yaml_language_server_line(schema: str = RUNBOOK_SCHEMA_ID) -> str:
    """The first line of a compiled runbook: the YAML language server (VS Code's YAML extension) reads it."""
    return f"# yaml-language-server: $schema={schema}\n"


def runbook_json_schema() -> dict[str, Any]:
    """JSON Schema of the runbook document (field names as written in YAML: ``apiVersion``, ``with``)."""
    schema = Runbook.model_json_schema(by_alias=True, mode="validation")
    schema["$id"] = RUNBOOK_SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Runbook (runbook/v0)"
    return schema
