"""The command ontology: is a command read-only, a write, or unknown.

The facts about tools (subcommands read-only vs mutating, flags, launchers) live in
``playbooks_contracts.command_ontology``, shared with the command policy that decides what runs;
``ontology.yaml`` keeps what only the compiler uses (PowerShell verbs, shell variables, defaults).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import shlex
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

import yaml

from playbooks_contracts import command_ontology
from playbooks_contracts.command_policy import CommandPolicy, Layer, static_argv
from playbooks_contracts.runbook import TEMPLATE_REF

Kind = Literal["read", "write", "unknown"]

_SQL_READ = re.compile(r"^\s*(select|show|explain|table|values|\\d\w*|\\l|\\dt|\\du|\\conninfo)\b", re.I)
_SQL_EXPLAIN_ANALYZE = re.compile(r"^\s*explain\s*(\(|analy[sz]e)", re.I)
# Functions that change server state even inside a SELECT.
_SQL_WRITE_FUNCS = re.compile(
    r"\b(pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|setval|nextval|pg_promote|"
    r"set_config|lo_unlink|pg_switch_wal|pg_drop_replication_slot|pg_create_\w+|pg_wal_replay_\w+|"
    r"pg_advisory_\w*lock\w*|dblink_exec)\s*\(",
    re.I,
)
_SQL_WRITE_WORDS = re.compile(r"\b(into|for\s+update|for\s+share)\b", re.I)


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    tool: str
    reason: str
    blocking: bool = False  # runs until interrupted (follow/watch/interactive)

    @property
    def automatable(self) -> bool:
        return self.kind == "read" and not self.blocking


@functools.cache
def load() -> dict[str, Any]:
    """The ontology: the shared facts about tools, and the compiler's own sections."""
    data: dict[str, Any] = yaml.safe_load(files("compiler").joinpath("ontology.yaml").read_text())
    return {
        **data,
        "tools": command_ontology.TOOLS,
        "launchers": sorted(command_ontology.LAUNCHERS),
        "deny_commands": command_ontology.DENY_COMMANDS,
        "privilege_prefixes": command_ontology.PRIVILEGE_PREFIXES,
        "powershell": {
            "read_verbs": command_ontology.POWERSHELL_READ_VERBS,
            "write_verbs": command_ontology.POWERSHELL_WRITE_VERBS,
        },
        "shell_variables": command_ontology.SHELL_VARIABLES,
    }


def tools() -> dict[str, dict[str, Any]]:
    return load()["tools"]


def is_known_tool(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    data = load()
    known = base in tools() or base in data["privilege_prefixes"] or base in data["launchers"] or bool(_plugin(base))
    return known or _cmdlet(base) is not None


_CMDLET = re.compile(r"^([A-Z][a-z]+)-[A-Z][A-Za-z]+$")


def _cmdlet(word: str) -> str | None:
    m = _CMDLET.match(word)
    return m.group(1) if m else None


def is_powershell(text: str) -> bool:
    words = text.split()
    return bool(words) and _cmdlet(words[0]) is not None


def classify_sql(sql: str) -> tuple[Kind, str]:
    """A read when every statement only reads and calls no state-changing function."""
    statements = [s for s in (p.strip() for p in sql.split(";")) if s]
    if not statements:
        return "unknown", "empty SQL"
    for stmt in statements:
        if _SQL_WRITE_FUNCS.search(stmt):
            return "write", f"calls a function that changes the server: {_SQL_WRITE_FUNCS.search(stmt).group(1)}"  # type: ignore[union-attr]
        if _SQL_EXPLAIN_ANALYZE.match(stmt):
            return "write", "EXPLAIN ANALYZE executes the statement"
        if not _SQL_READ.match(stmt):
            first = stmt.split()[0].upper()
            return "write", f"SQL statement {first} may change data"
        if _SQL_WRITE_WORDS.search(stmt):
            return "write", "SELECT INTO / FOR UPDATE changes or locks data"
    return "read", "read-only SQL"


def positionals(args: list[str], value_options: set[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-") and len(arg) > 1:
            if "=" not in arg and arg in value_options:
                skip = True
            continue
        out.append(arg)
    return out


def _option_value(args: list[str], names: list[str]) -> str | None:
    for k, arg in enumerate(args):
        for name in names:
            if arg == name and k + 1 < len(args):
                return args[k + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name) :]
    return None


def _has_flag(args: list[str], flags: list[str]) -> str | None:
    for arg in args:
        for flag in flags:
            if arg == flag or (flag.startswith("--") and arg.startswith(flag + "=")):
                return flag
            # combined short flags such as -fn: only for single-letter flags
            short = len(flag) == 2 and flag[0] == "-" and arg.startswith("-") and not arg.startswith("--")
            if short and flag[1] in arg[1:] and arg[1:].isalpha():
                return flag
    return None


def _plugin(program: str) -> str | None:
    """``kubectl-cnpg`` is the cnpg plugin of kubectl, run directly: judged as ``kubectl cnpg``."""
    host, _, name = program.partition("-")
    return name if host in ("kubectl", "oc") and name else None


def classify(argv: list[str]) -> Verdict:
    """Classify one command (argv, templates allowed in arguments) with the ontology."""
    data = load()
    program = argv[0].rsplit("/", 1)[-1]
    if program == "watch":
        return _watch(argv[1:])
    plugin = _plugin(program)
    if plugin is not None and program not in tools():
        as_plugin = classify([program.partition("-")[0], plugin, *argv[1:]])
        return Verdict(as_plugin.kind, program, as_plugin.reason, as_plugin.blocking)
    if TEMPLATE_REF.search(argv[0]):
        return Verdict("unknown", argv[0], "the program itself is a placeholder")
    if re.match(r"^[A-Za-z_]\w*=", argv[0]):
        rest = [a for a in argv if not re.match(r"^[A-Za-z_]\w*=", a)]
        tool = rest[0] if rest else argv[0]
        return Verdict("unknown", tool, f"sets environment variables for {tool} (a shell does that)")
    if program in data["privilege_prefixes"]:
        inner = classify(argv[1:]) if len(argv) > 1 else None
        tool = inner.tool if inner else program
        return Verdict("write", tool, f"runs with elevated privileges ({program})")
    spec = tools().get(program)
    verb = _cmdlet(program)
    if spec is None and verb is not None:
        return _powershell(program, verb)
    if spec is None:
        return Verdict("unknown", program, f"{program} is not in the command ontology")
    return _by_spec(program, spec, argv[1:])


def _powershell(program: str, verb: str) -> Verdict:
    ps = load()["powershell"]
    if verb in ps["read_verbs"]:
        return Verdict("read", program, f"PowerShell {verb}- cmdlets only read")
    if verb in ps["write_verbs"]:
        return Verdict("write", program, f"PowerShell {verb}- cmdlets change state")
    return Verdict("unknown", program, f"PowerShell verb {verb} is not in the command ontology")


@dataclass(frozen=True)
class _Judged:
    """What a tool's mode made of its arguments, before the checks every reading command gets."""

    kind: Kind
    reason: str
    subject: str = ""  # the subcommand matched, for ``blocking_flags_for``


def _by_spec(program: str, spec: dict[str, Any], args: list[str]) -> Verdict:
    """A known tool's command, judged by the tool's ontology entry."""
    mode = spec["mode"]
    most = spec.get("max_positionals")
    if most is not None and len(positionals(args, set(spec.get("value_options", [])))) > most:
        return Verdict("unknown", program, f"{program} takes at most {most} words besides options: is this a command?")
    write_flag = _has_flag(args, spec.get("write_flags", []))
    if write_flag:
        return Verdict("write", program, f"{program} {write_flag} writes")
    if mode == "write":
        return Verdict("write", program, f"{program} changes or destroys state")
    judged: Verdict | _Judged
    if mode == "read":
        judged = _Judged("read", f"{program} only reads")
    elif mode == "sql":
        judged = _sql_mode(program, spec, args)
    elif mode == "http":
        judged = _http_mode(program, spec, args)
    elif mode == "subcommand":
        judged = _subcommand_mode(program, spec, args)
    elif mode == "verb":
        judged = _verb_mode(program, spec, args)
    else:
        return Verdict("unknown", program, f"ontology mode {mode!r} of {program} is not understood")
    if isinstance(judged, Verdict):
        return judged
    if judged.kind == "read":
        blocking = _blocking(program, spec, args, judged.subject)
        if blocking is not None:
            return blocking
    return Verdict(judged.kind, program, judged.reason)


def _sql_mode(program: str, spec: dict[str, Any], args: list[str]) -> Verdict | _Judged:
    sql = _option_value(args, spec.get("sql_flags", []))
    if sql is None:
        return Verdict("unknown", program, f"{program} without -c opens an interactive session or runs a file")
    return _Judged(*classify_sql(sql))


def _http_mode(program: str, spec: dict[str, Any], args: list[str]) -> Verdict | _Judged:
    method = (_option_value(args, spec.get("method_flags", [])) or "GET").upper()
    if method not in ("GET", "HEAD"):
        return Verdict("write", program, f"HTTP {method} may change state")
    return _Judged("read", f"HTTP {method}")


def _subcommand_mode(program: str, spec: dict[str, Any], args: list[str]) -> Verdict | _Judged:
    """The longest listed subcommand the words start with, among the tool's ``write`` and ``read`` ones."""
    pos = positionals(args, set(spec.get("value_options", [])))
    best: tuple[int, Kind, str] | None = None
    for key, label in (("write", "write"), ("read", "read")):
        for entry in spec.get(key, []):
            words = str(entry).split()
            if pos[: len(words)] == words and (best is None or len(words) > best[0]):
                best = (len(words), label, str(entry))  # type: ignore[assignment]
    if best is None:
        sub = " ".join(pos[:2]) or "(none)"
        return Verdict("unknown", program, f"{program} {sub} is not in the command ontology")
    _, kind, subject = best
    return _Judged(kind, f"{program} {subject} " + ("only reads" if kind == "read" else "changes state"), subject)


def _verb_mode(program: str, spec: dict[str, Any], args: list[str]) -> Verdict | _Judged:
    """Any word matching a write verb writes; else a blocking verb streams; else a read verb reads."""
    pos = [p for p in positionals(args, set(spec.get("value_options", []))) if not TEMPLATE_REF.search(p)]
    hit = next((p for p in pos for g in spec.get("write_verbs", []) if fnmatch.fnmatchcase(p, g)), None)
    if hit is not None:
        return Verdict("write", program, f"{program} ... {hit} changes state")
    hit = next((p for p in pos for g in spec.get("blocking_verbs", []) if fnmatch.fnmatchcase(p, g)), None)
    if hit is not None:
        return Verdict("read", program, f"{program} ... {hit} streams until interrupted", blocking=True)
    hit = next((p for p in pos for g in spec.get("read_verbs", []) if fnmatch.fnmatchcase(p, g)), None)
    if hit is None:
        return Verdict("unknown", program, f"{program} {' '.join(pos[:3])} is not in the command ontology")
    return _Judged("read", f"{program} ... {hit} only reads")


def _blocking(program: str, spec: dict[str, Any], args: list[str], subject: str) -> Verdict | None:
    """A reading command that runs until interrupted: a follow/watch flag, or none of the flags that end it."""
    blocking_for = spec.get("blocking_flags_for")
    if blocking_for is None or subject in blocking_for:
        flag = _has_flag(args, spec.get("blocking_flags", []))
        if flag:
            return Verdict("read", program, f"{program} {flag} runs until interrupted", blocking=True)
    needs = spec.get("requires_one_of")
    if needs and not _has_flag(args, needs):
        return Verdict("read", program, f"{program} without {' or '.join(needs)} runs until interrupted", blocking=True)
    return None


_WATCH_VALUE = {"-n", "--interval"}


def _watch(args: list[str]) -> Verdict:
    """``watch [-n N] cmd``: what it repeats decides read or write; it always runs until interrupted."""
    k = 0
    while k < len(args) and args[k].startswith("-"):
        k += 2 if args[k] in _WATCH_VALUE else 1
    inner = args[k:]
    if not inner:
        return Verdict("unknown", "watch", "watch without a command")
    line = inner[0] if len(inner) == 1 else shlex.join(inner)  # watch runs its arguments through sh -c
    kinds = []
    for segment in re.split(r"\|\|?|&&?|;|\$\(|`", line):
        try:
            words = shlex.split(segment)
        except ValueError:
            return Verdict("unknown", "watch", "watch with unbalanced quoting")
        if words:
            kinds.append(classify(words).kind)
    kind: Kind = "read" if kinds and all(k == "read" for k in kinds) else "write" if "write" in kinds else "unknown"
    return Verdict(kind, "watch", f"watch repeats `{line[:60]}` until interrupted", blocking=True)


def policy_refusals(argv: list[str], rules: dict[str, Any] | None = None) -> list[str]:
    """What the command policy refuses in ``argv`` beyond the allow-list (launchers, code it cannot read,
    options that run programs, the runbook's own subcommand and flag rules), judged by name."""
    layer = Layer("runbook", None, rules=rules or {})
    rendered, tainted = static_argv(argv)
    return CommandPolicy([layer]).decide(rendered, tainted).problems


def governance_defaults() -> dict[str, Any]:
    return dict(load()["governance_defaults"])


def deny_commands() -> list[str]:
    return list(load()["deny_commands"])


def shell_variables() -> set[str]:
    return set(load()["shell_variables"])


def imperative_verbs() -> frozenset[str]:
    return frozenset(load()["imperative_verbs"])
