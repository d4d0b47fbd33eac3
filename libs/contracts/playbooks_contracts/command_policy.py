"""The one command policy: a decision over a whole argv, used by real runs, replay, dry-run, planning,
validation and the compiler. No I/O: finding programs on disk is a function the caller passes in.

A policy is a stack of layers (the operator's cap, the org's policy, the runbook's governance, a
policy file); a command runs only when every layer allows it, so a lower layer can only narrow.
For each command the policy checks, in one pass and reporting every refusal:

- the program, by every name it goes by (as written, as found on PATH, the binary it really is);
- per-program rules of each layer: allowed and denied subcommands, denied flags in any spelling;
- launchers (env, xargs, find -exec, timeout, sudo, sh -c, kubectl exec, busybox...): refused unless a
  trusted layer (the org's policy or a policy file) grants that program ``launcher: true``, and then
  what they launch is checked by the same policy, recursively. Code nobody can read here (python -c,
  a script file, stdin of a shell, an awk program that calls system()) is always refused.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .command_ontology import DANGEROUS_ENV, EXEC_FLAGS, LAUNCHERS, TOOLS
from .policy import CommandRule, CommandSet, OrgPolicy
from .runbook import TEMPLATE_REF, Governance, render_text

MAX_DEPTH = 6
_INFO = {"--version", "-V", "--help", "-h", "-version", "-help"}
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
# A command line a shell would run as one simple command: no expansion, redirection, list or glob.
_SHELL_SYNTAX = re.compile(r"[;&|<>()$`\\\n\r*?\[\]{}~!#]")
_SQL_LAUNCH = re.compile(
    r"\\!|\\[ogw]\s*\||\\i|\\ir|\\copy|\\setenv|\\gexec|\\g\s*\||\bprogram\b|\bsystem\b|\\system", re.I
)
_AWK_LAUNCH = re.compile(r"system|\||@load|@include|/inet")
_SSH_OPAQUE = ("proxycommand", "localcommand", "permitlocalcommand", "knownhostscommand", "match", "include")


@dataclass(frozen=True)
class Resolved:
    """Where a program was found: the path on PATH (before symlinks) and the real binary."""

    found: str
    real: str


Resolver = Callable[[str], "Resolved | None"]


@dataclass(frozen=True)
class Layer:
    """One source of rules. ``allowed`` None: this layer does not limit which programs run."""

    source: str
    allowed: tuple[str, ...] | None
    denied: tuple[str, ...] = ()
    rules: Mapping[str, CommandRule] = field(default_factory=dict)
    trusted: bool = False  # only a trusted layer (org policy, policy file) can grant launchers

    @classmethod
    def of(cls, source: str, spec: CommandSet | Governance, *, trusted: bool) -> Layer:
        allowed = tuple(dict.fromkeys([*spec.allowed_commands, *spec.commands]))
        return cls(source, allowed, tuple(spec.deny_commands), dict(spec.commands), trusted)


def layers_for(
    governance: Governance,
    *,
    org: OrgPolicy | CommandSet | None = None,
    operator: Sequence[str] | None = None,
    org_source: str = "org policy",
) -> list[Layer]:
    """The effective policy: the operator's cap (when given), the org's policy (when it sets one), the runbook."""
    layers = []
    if operator is not None:
        layers.append(Layer("operator's cap", tuple(operator)))
    commands = org.commands if isinstance(org, OrgPolicy) else org
    if commands is not None:
        layers.append(Layer.of(org_source, commands, trusted=True))
    layers.append(Layer.of("runbook", governance, trusted=False))
    return layers


@dataclass
class Decision:
    """The verdict on one argv: every refusal with its reason, and the binary to execute."""

    argv: list[str]
    problems: list[str] = field(default_factory=list)
    executable: str | None = None

    @property
    def allowed(self) -> bool:
        return not self.problems

    def reason(self) -> str:
        return "; ".join(self.problems)


@dataclass
class _Launch:
    launcher: str
    inner: list[tuple[list[str], list[bool], bool]] = field(default_factory=list)  # (argv, tainted, by name)
    opaque: str | None = None
    appends: bool = False
    code: bool = False  # runs a program text (awk) that launches nothing this policy could not see


def base(program: str) -> str:
    return program.rstrip("/").rsplit("/", 1)[-1]


def ontology_name(program: str) -> str:
    """The ontology's name for a program: ``/usr/bin/python3.11`` -> ``python``, ``mawk`` -> ``mawk``."""
    name = base(program)
    if name in TOOLS or name in LAUNCHERS:
        return name
    stripped = re.sub(r"[-.]?\d+(\.\d+)*$", "", name)
    return stripped or name


def flag_hit(arg: str, flag: str) -> bool:
    """Whether ``arg`` is ``flag`` in any spelling a parser would accept."""
    if arg == flag or arg.startswith(flag + "="):
        return True
    if flag.startswith("--"):
        # GNU getopt accepts any unambiguous abbreviation of a long option
        name = arg.split("=", 1)[0]
        return arg.startswith("--") and len(name) >= 4 and flag.startswith(name)
    if flag.startswith("-") and len(flag) == 2:
        if arg.startswith("--") or not arg.startswith("-") or len(arg) < 2:
            return False
        # attached value (-n5) or a cluster of short flags (-it)
        return arg[1] == flag[1] or (arg[1:].isalpha() and flag[1] in arg[1:])
    if flag.startswith("-"):
        # single-dash long options (Go, find, openssl) also accept two dashes
        bare, arg_bare = flag.lstrip("-"), arg.lstrip("-").split("=", 1)[0]
        return arg.startswith("-") and arg_bare == bare
    return False


def _words_at(words: Sequence[str], phrase: str) -> bool:
    """Whether the words of ``phrase`` appear contiguously anywhere in ``words``."""
    target = phrase.split()
    n = len(target)
    return any(list(words[i : i + n]) == target for i in range(len(words) - n + 1))


def positionals(args: Sequence[str], value_options: Iterable[str]) -> list[str]:
    """The words of ``args`` that are not options or option values."""
    takes_value = set(value_options)
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            skip = "=" not in arg and arg in takes_value
            continue
        out.append(arg)
    return out


def simple_command(line: str) -> list[str] | str:
    """The argv of a shell command line that is one simple command, else why it is not."""
    if _SHELL_SYNTAX.search(line):
        return f"the command line {line!r} uses shell syntax (expansion, redirection, lists or globs)"
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:
        return f"the command line {line!r} does not parse ({exc})"
    if not words:
        return "an empty command line"
    if _ASSIGN.match(words[0]):
        return f"the command line {line!r} sets variables"
    return words


def _shell_line(launcher: str, line: str, tainted: bool, *, by_name: bool) -> _Launch:
    if tainted:
        return _Launch(launcher, opaque=f"{launcher} runs a command line built from a template value, which could add "
                       "words; pass values as separate argv items")  # fmt: skip
    words = simple_command(line)
    if isinstance(words, str):
        return _Launch(launcher, opaque=words)
    return _Launch(launcher, inner=[(words, [False] * len(words), by_name)])


def _option(prog: str, opts: Mapping[str, Any], name: str, value: str | None, args: list[str], taint: list[bool],
            i: int) -> tuple[int, _Launch | None]:  # fmt: skip
    """How many words option ``name`` at ``args[i]`` spans (its value attached or not), or the launch it makes."""
    arity = opts.get(name)
    if arity is None:
        return 0, _Launch(prog, opaque=f"{prog}: unknown option {name}, so where the command starts is unclear")
    if arity == "opaque":
        return 0, _Launch(prog, opaque=f"{prog} {name} hides what it runs")
    if arity == "shell":
        k = i if value is not None else i + 1
        line = value if value is not None else (args[k] if k < len(args) else "")
        return 0, _shell_line(prog, line, k < len(taint) and taint[k], by_name=False)
    if value is not None:
        return 1, None
    return 1 + int(arity), None


def _prefix(prog: str, spec: Mapping[str, Any], args: list[str], taint: list[bool]) -> _Launch:
    opts: Mapping[str, Any] = spec.get("options", {})
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg == "-" and spec.get("assignments"):
            i += 1
            continue
        if not (arg.startswith("-") and len(arg) > 1):
            break
        if spec.get("numeric") and arg[1:].isdigit():
            i += 1
            continue
        if arg in opts or arg.startswith("--"):
            name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            step, launch = _option(prog, opts, name, value if eq else None, args, taint, i)
        else:
            # a cluster of short options, the last one possibly with its value attached (-n5, -iu NAME)
            step, launch = 1, None
            for j in range(1, len(arg)):
                attached = arg[j + 1 :] or None
                step, launch = _option(prog, opts, "-" + arg[j], attached, args, taint, i)
                if launch is not None or opts.get("-" + arg[j]):
                    break
        if launch is not None:
            return launch
        i += step
    rest, rtaint = args[i:], taint[i:]
    launch = _Launch(prog, appends=bool(spec.get("appends")))
    if spec.get("assignments"):
        while rest and _ASSIGN.match(rest[0]):
            name = _ASSIGN.match(rest[0]).group(1)  # type: ignore[union-attr]
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in DANGEROUS_ENV):
                return _Launch(prog, opaque=f"{prog} sets {name}, which decides what programs load or run")
            rest, rtaint = rest[1:], rtaint[1:]
    before = int(spec.get("before", 0))
    rest, rtaint = rest[before:], rtaint[before:]
    if not rest:
        empty = spec.get("empty", "none")
        if empty == "opaque":
            return _Launch(prog, opaque=f"{prog} without a command starts an interactive shell")
        if isinstance(empty, list):
            launch.inner.append((list(empty), [False] * len(empty), False))
        return launch
    if spec.get("via_shell"):
        return _shell_line(prog, " ".join(rest), any(rtaint), by_name=False)
    launch.inner.append((rest, rtaint, False))
    return launch


def _shell(prog: str, args: list[str], taint: list[bool]) -> _Launch:
    if args and all(a in _INFO for a in args):
        return _Launch(prog)
    command = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            if arg in ("--login", "--norc", "--noprofile", "--posix", "--noediting", "--restricted"):
                i += 1
                continue
            return _Launch(prog, opaque=f"{prog} {arg}: an option this policy does not read")
        if arg[:1] in "-+" and len(arg) > 1:
            command = command or "c" in arg[1:]
            i += 2 if ("o" in arg[1:] or "O" in arg[1:]) else 1
            continue
        break
    if not command:
        return _Launch(prog, opaque=f"{prog} runs a script or its standard input, code the policy cannot read")
    if i >= len(args):
        return _Launch(prog, opaque=f"{prog} -c without a command line")
    return _shell_line(prog, args[i], taint[i], by_name=False)


def _awk(prog: str, args: list[str]) -> _Launch:
    program: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--sandbox", "-S") and prog != "mawk":
            return _Launch(prog)  # gawk's sandbox disables system(), pipes and redirections
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            letter = {"--field-separator": "F", "--assign": "v", "--source": "e", "--file": "f", "--exec": "E",
                      "--load": "l", "--include": "i"}.get(name, "?")  # fmt: skip
            attached = value if eq else ""
        else:
            name, letter, attached = arg, arg[1], arg[2:]
        following = args[i + 1] if i + 1 < len(args) else ""
        if letter in "fEli":
            return _Launch(prog, opaque=f"{prog} {name} runs a program file the policy cannot read")
        if letter in "Fve":
            if letter == "e":
                program = (program or "") + "\n" + (attached or following)
            i += 1 if attached else 2
            continue
        if letter in "bcPrn" and not attached:
            i += 1
            continue
        return _Launch(prog, opaque=f"{prog}: unknown option {name}")
    if program is None:
        if i >= len(args):
            return _Launch(prog, opaque=f"{prog} without a program")
        program = args[i]
    if _AWK_LAUNCH.search(program):
        return _Launch(prog, opaque=f"the {prog} program can run commands (system(), pipes, extensions)")
    return _Launch(prog, code=True)


def _sql(prog: str, spec: Mapping[str, Any], args: list[str]) -> _Launch:
    if args and all(a in _INFO or a in ("-l", "--list") for a in args):
        return _Launch(prog)
    for arg in args:
        for flag in spec.get("opaque_flags", []):
            if flag_hit(arg, flag):
                return _Launch(prog, opaque=f"{prog} {flag} reads or writes commands the policy cannot see")
    texts = []
    for k, arg in enumerate(args):
        for flag in spec["sql_flags"]:
            if arg == flag and k + 1 < len(args):
                texts.append(args[k + 1])
            elif flag.startswith("--") and arg.startswith(flag + "="):
                texts.append(arg.split("=", 1)[1])
            elif not flag.startswith("--") and arg.startswith(flag) and len(arg) > len(flag):
                texts.append(arg[len(flag) :])
    if not texts:
        return _Launch(prog, opaque=f"{prog} without {spec['sql_flags'][0]} reads commands from its standard input")
    for text in texts:
        if _SQL_LAUNCH.search(text):
            return _Launch(prog, opaque=f"{prog} client commands in {text!r} can run programs or read files")
    return _Launch(prog)


def _ssh(prog: str, spec: Mapping[str, Any], args: list[str], taint: list[bool]) -> _Launch:
    opts: Mapping[str, int] = spec["options"]
    i, no_command = 0, False
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or len(arg) < 2:
            break
        j = 1
        while j < len(arg):
            flag = "-" + arg[j]
            if flag not in opts:
                return _Launch(prog, opaque=f"{prog}: unknown option {flag}")
            if flag == "-N":
                no_command = True
            if opts[flag]:
                value = arg[j + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                if flag == "-F" or (flag == "-o" and value.strip().lower().startswith(_SSH_OPAQUE)):
                    return _Launch(prog, opaque=f"{prog} {flag} {value} can run a local command")
                i += 0 if arg[j + 1 :] else 1
                break
            j += 1
        i += 1
    if i >= len(args):
        return _Launch(prog, opaque=f"{prog} without a host")
    rest, rtaint = args[i + 1 :], taint[i + 1 :]
    if not rest:
        if no_command:
            return _Launch(prog)
        return _Launch(prog, opaque=f"{prog} without a command runs a remote shell reading its standard input")
    return _shell_line(prog, " ".join(rest), any(rtaint), by_name=True)


def _su(prog: str, args: list[str], taint: list[bool]) -> _Launch:
    zero = {"-l", "--login", "-", "-m", "-p", "--preserve-environment", "-P", "--pty", "-f", "--fast"}
    one = {"-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"}
    user_mode, seen_user, i = False, False, 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--":
            i += 1
            continue
        if arg in zero:
            i += 1
        elif name in one:
            i += 1 if eq else 2
        elif name in ("-c", "--command", "--session-command"):
            k = i if eq else i + 1
            line = value if eq else (args[k] if k < len(args) else "")
            return _shell_line(prog, line, k < len(taint) and taint[k], by_name=False)
        elif name in ("-s", "--shell"):
            return _Launch(prog, opaque=f"{prog} {name} chooses the shell that runs")
        elif name in ("-u", "--user"):
            user_mode = True
            i += 1 if eq else 2
        elif arg.startswith("-"):
            return _Launch(prog, opaque=f"{prog}: unknown option {arg}")
        elif user_mode:
            return _Launch(prog, inner=[(args[i:], taint[i:], False)])
        elif not seen_user:
            seen_user = True
            i += 1
        else:
            return _Launch(prog, opaque=f"{prog} passes {arg!r} to the user's shell")
    return _Launch(prog, opaque=f"{prog} without -c starts an interactive shell")


def _find(prog: str, args: list[str], taint: list[bool]) -> _Launch:
    launch = _Launch(prog)
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((k for k in range(i + 1, len(args)) if args[k] in (";", "+")), None)
            if end is None:
                return _Launch(prog, opaque=f"{prog} {args[i]} without a closing ';' or '+'")
            if end == i + 1:
                return _Launch(prog, opaque=f"{prog} {args[i]} without a command")
            launch.inner.append((args[i + 1 : end], taint[i + 1 : end], False))
            i = end
        i += 1
    return launch


def _multicall(prog: str, written: str, args: list[str], taint: list[bool]) -> _Launch:
    if ontology_name(written) in ("busybox", "toybox"):
        if not args or args[0].startswith("-"):
            return _Launch(prog)
        return _Launch(prog, inner=[(args, taint, True)])
    # called by another name (a symlink ``ls`` -> busybox): the applet is that name
    name = base(written)
    return _Launch(prog, inner=[([name, *args], [False, *taint], True)])


def _known_subcommands(prog: str, spec: Mapping[str, Any]) -> set[str]:
    tool = TOOLS.get(prog, {})
    words = {str(e).split()[0] for key in ("read", "write") for e in tool.get(key, [])}
    return words | set(spec.get("subcommands", {})) | {"help", "version", "completion"}


def _subcommand(prog: str, spec: Mapping[str, Any], args: list[str], taint: list[bool]) -> _Launch:
    opaque_options = spec.get("opaque_options", [])
    for arg in args:
        if arg == "--":
            break
        hit = next((o for o in opaque_options if flag_hit(arg, o)), None)
        if hit:
            return _Launch(prog, opaque=f"{prog} {hit} can run commands the policy cannot see")
    words = positionals(args, spec.get("value_options", []))
    for word in spec.get("opaque_words", []):
        if word in words:
            return _Launch(prog, opaque=f"{prog} ... {word} runs commands the policy cannot see")
    if not words:
        return _Launch(prog)
    sub = words[0]
    at = args.index(sub)
    subspec = spec.get("subcommands", {}).get(sub)
    if subspec is not None:
        rest, rtaint = args[at + 1 :], taint[at + 1 :]
        if subspec.get("opaque"):
            return _Launch(prog, opaque=f"{prog} {sub} runs code the policy cannot read")
        if subspec.get("after_dashes"):
            if "--" not in rest:
                return _Launch(prog, opaque=f"{prog} {sub} without '-- COMMAND' runs the image's own command")
            k = rest.index("--")
            inner, itaint = rest[k + 1 :], rtaint[k + 1 :]
        else:
            spec2 = {"options": subspec["options"], "before": subspec["positionals"], "empty": "opaque"}
            launch = _prefix(f"{prog} {sub}", spec2, rest, rtaint)
            launch.inner = [(argv, t, True) for argv, t, _ in launch.inner]  # runs in the container
            return launch
        if not inner:
            return _Launch(prog, opaque=f"{prog} {sub} without a command")
        return _Launch(prog, inner=[(inner, itaint, True)])
    if sub in _known_subcommands(prog, spec):
        return _Launch(prog)
    if spec.get("plugin"):
        return _Launch(prog, inner=[([spec["plugin"] + sub, *args[at + 1 :]], [False, *taint[at + 1 :]], False)])
    if spec.get("unknown") == "opaque":
        return _Launch(prog, opaque=f"{prog} {sub} is not a known subcommand: it may be an alias or a plugin")
    return _Launch(prog)


def launched(prog: str, written: str, args: list[str], taint: list[bool]) -> _Launch | None:
    """What ``prog`` (an ontology name) runs with these arguments, or None when it runs nothing else."""
    spec = LAUNCHERS.get(prog)
    if spec is None:
        return None
    kind = spec["kind"]
    if kind == "prefix":
        launch = _prefix(prog, spec, args, taint)
    elif kind == "shell":
        launch = _shell(prog, args, taint)
    elif kind == "code":
        launch = _Launch(prog) if args and all(a in _INFO for a in args) else _Launch(
            prog, opaque=f"{prog} runs code the policy cannot read")  # fmt: skip
    elif kind == "awk":
        launch = _awk(prog, args)
    elif kind == "sed":
        launch = _Launch(prog) if "--sandbox" in args else _Launch(
            prog, opaque=f"{prog} can run commands (e, s///e) and write files: add --sandbox")  # fmt: skip
    elif kind == "sql":
        launch = _sql(prog, spec, args)
    elif kind == "ssh":
        launch = _ssh(prog, spec, args, taint)
    elif kind == "su":
        launch = _su(prog, args, taint)
    elif kind == "find":
        launch = _find(prog, args, taint)
    elif kind == "multicall":
        launch = _multicall(prog, written, args, taint)
    else:
        launch = _subcommand(prog, spec, args, taint)
    return launch if (launch.inner or launch.opaque or launch.code) else None


class CommandPolicy:
    """Decides on whole argvs against a stack of layers.

    ``resolve_program`` finds argv[0] as the runner would (the child's PATH); ``resolve_entry`` finds
    list entries (the service's own PATH, so a runbook cannot redefine what "ls" means). Without a
    resolver, programs are compared by name (replay, dry-run and validation on another machine).
    ``require_found``: a program that cannot be found is refused (real runs).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        resolve_program: Resolver | None = None,
        resolve_entry: Resolver | None = None,
        require_found: bool = False,
    ) -> None:
        self.layers = list(layers)
        self._found: dict[str, Resolved | None] = {}
        self._resolve = resolve_program
        self.resolve_program = self._cached if resolve_program is not None else None
        self.require_found = require_found
        self._allowed: list[tuple[dict[str, set[str]], set[str]] | None] = []
        self._denied: list[tuple[set[str], set[str]]] = []
        for layer in self.layers:
            if layer.allowed is None:
                self._allowed.append(None)
            else:
                reals: dict[str, set[str]] = {}
                names: set[str] = set()
                for entry in layer.allowed:
                    names |= {entry, base(entry)}
                    found = resolve_entry(entry) if resolve_entry else None
                    if found is not None:
                        reals.setdefault(found.real, set()).update({base(entry), base(found.found), base(found.real)})
                self._allowed.append((reals, names))
            paths: set[str] = set()
            for entry in layer.denied:
                found = resolve_entry(entry) if resolve_entry else None
                if found is not None:
                    # denying ``reboot`` (a link to systemctl) must not deny ``systemctl`` itself
                    paths |= {found.found} | ({found.real} if base(found.real) == base(entry) else set())
            self._denied.append((paths, {base(d) for d in layer.denied}))

    def _cached(self, program: str) -> Resolved | None:
        # once per name for the policy's life (a run): what was judged is the binary that runs
        if program not in self._found:
            self._found[program] = self._resolve(program)  # type: ignore[misc]
        return self._found[program]

    # -- one program -----------------------------------------------------------------------

    def _program(self, program: str, by_name: bool, problems: list[str]) -> tuple[Resolved | None, set[str]]:
        """The program's resolution and every name it goes by; adds the allow/deny refusals."""
        if not program or program.startswith("-"):
            problems.append(f"{program!r} is not a program")
            return None, set()
        if "/" in program and not program.startswith("/"):
            # relative to a directory a launcher may change (env -C, find -execdir): not what was judged
            problems.append(f"{program!r} is a relative path: name the program or give its absolute path")
            return None, set()
        found = None if by_name or self.resolve_program is None else self.resolve_program(program)
        if found is None and self.require_found and not by_name:
            problems.append(f"command {program!r} not found or not executable")
            return None, set()
        names = {base(program)} | ({base(found.found), base(found.real)} if found else set())
        shown = f"{program!r}" + (f" ({found.real})" if found and found.real != program else "")
        for layer, (paths, denied) in zip(self.layers, self._denied, strict=True):
            if names & denied or (found and {found.found, found.real} & paths):
                problems.append(f"command {shown} is on the {layer.source}'s deny list")
        for layer, allowed in zip(self.layers, self._allowed, strict=True):
            if allowed is None:
                continue
            reals, entry_names = allowed
            if found is not None and reals:
                # the binary must be an allowed one AND be called by an allowed name (a multi-call
                # binary does what its name says: ``reboot`` is systemctl but must not pass for it)
                ok = found.real in reals and base(program) in reals[found.real]
            else:
                ok = program in entry_names or base(program) in entry_names
                ok = ok and (found is None or not reals)
            if not ok:
                listed = ", ".join(layer.allowed or ()) or "nothing"
                problems.append(f"command {shown} is not allowed by the {layer.source} (allowed: {listed})")
        return found, names

    def _rules(self, names: set[str]) -> list[tuple[Layer, CommandRule]]:
        return [(layer, layer.rules[n]) for layer in self.layers for n in sorted(names) if n in layer.rules]

    def _check_rules(self, shown: str, names: set[str], args: list[str], problems: list[str]) -> None:
        for name in sorted({ontology_name(n) for n in names}):
            for flag in EXEC_FLAGS.get(name, []):
                if any(flag_hit(a, flag) for a in args):
                    problems.append(f"{shown} {flag} runs or loads a program the argv does not show")
        tool = next((TOOLS[ontology_name(n)] for n in sorted(names) if ontology_name(n) in TOOLS), {})
        words = positionals(args, tool.get("value_options", []))
        loose = [a for a in args if not a.startswith("-")]
        for layer, rule in self._rules(names):
            for flag in rule.deny_flags:
                hit = next((a for a in args if flag_hit(a, flag)), None)
                if hit is not None:
                    problems.append(f"{shown} {hit}: {flag} is denied by the {layer.source}")
            for phrase in rule.deny:
                if _words_at(loose, phrase):
                    problems.append(f"{shown} {phrase} is denied by the {layer.source}")
            if rule.allow is not None and not any(words[: len(p.split())] == p.split() for p in rule.allow):
                sub = " ".join(words[:2]) or "(no subcommand)"
                allowed = ", ".join(rule.allow) or "none"
                problems.append(f"{shown} {sub}: the {layer.source} allows only these subcommands: {allowed}")

    def _may_launch(self, names: set[str]) -> bool:
        rules = self._rules(names)
        if any(rule.launcher is False for _, rule in rules):
            return False
        return any(rule.launcher for layer, rule in rules if layer.trusted)

    # -- whole argv ------------------------------------------------------------------------

    def decide(self, argv: Sequence[str], tainted: Sequence[bool] | None = None) -> Decision:
        """The verdict on ``argv``; ``tainted[k]`` marks items that hold a template value."""
        decision = Decision(list(argv))
        taint = list(tainted) if tainted is not None else [False] * len(argv)
        found = self._check(list(argv), taint, False, 0, decision.problems, appended=False)
        decision.executable = found.real if found else None
        # the same refusal reached twice (a launcher and what it runs) is reported once
        decision.problems = list(dict.fromkeys(decision.problems))
        return decision

    def _check(
        self, argv: list[str], taint: list[bool], by_name: bool, depth: int, problems: list[str], *, appended: bool
    ) -> Resolved | None:
        if not argv:
            problems.append("an empty command")
            return None
        if depth > MAX_DEPTH:
            problems.append(f"launchers nested deeper than {MAX_DEPTH}")
            return None
        program, args = argv[0], argv[1:]
        found, names = self._program(program, by_name, problems)
        if not names:
            return found
        shown = base(program)
        self._check_rules(shown, names, args, problems)
        if appended and self._rules(names):
            problems.append(f"{shown} gets arguments the argv does not show (xargs), so its rules cannot be checked")
        # judged as written AND as the binary it really is (a symlink ``ls`` -> busybox is busybox)
        kinds = dict.fromkeys([ontology_name(program), *([ontology_name(found.real)] if found else [])])
        for name in kinds:
            launch = launched(name, program, args, taint[1:])
            if launch is None:
                continue
            if not self._may_launch(names):
                what = "runs a program text" if launch.code else "runs other programs"
                problems.append(
                    f"{shown} {what}: refused unless the org's policy allows {shown} as a launcher "
                    f"(commands: {{{shown}: {{launcher: true}}}})"
                )
            if launch.opaque:
                problems.append(f"{launch.opaque}: refused, the policy cannot see what would run")
            for inner, itaint, inner_by_name in launch.inner:
                self._check(
                    inner, itaint, by_name or inner_by_name, depth + 1, problems, appended=appended or launch.appends
                )
        return found


def render_argv(
    args: Sequence[str], values: Mapping[str, str], *, flag_vars: Iterable[str] = ()
) -> tuple[list[str], list[bool], list[str]]:
    """(argv, tainted, problems): ``{{ .name }}`` substituted; a value that would start an item with '-'
    (become an option) is a problem unless its var is declared ``flag: true``."""
    flags = set(flag_vars)
    out, taint, problems = [], [], []
    for k, arg in enumerate(args):
        refs = TEMPLATE_REF.findall(arg)
        missing = [n for n in refs if n not in values]
        if missing:
            problems.append(f"argv[{k}]: {{{{ .{missing[0]} }}}} is not a var or an earlier capture")
            out.append(arg)
            taint.append(bool(refs))
            continue
        rendered = render_text(arg, lambda name: values[name])
        if rendered.startswith("-") and not arg.startswith("-"):
            # the leading '-' comes from a value: whichever var supplies the first character decides
            first = next(
                (m.group(1) for m in TEMPLATE_REF.finditer(arg) if values[m.group(1)]),
                None,
            )
            if first is not None and first not in flags:
                problems.append(
                    f"argv[{k}]: the value of {first!r} ({rendered!r}) would become an option; "
                    f"declare the var with flag: true if that is intended"
                )
        out.append(rendered)
        taint.append(bool(refs))
    return out, taint, problems


def static_argv(args: Sequence[str]) -> tuple[list[str], list[bool]]:
    """An argv as written, templates replaced by a placeholder word, for checks before any value is known."""
    out = [render_text(a, lambda name: f"<{name}>") for a in args]
    return out, [bool(TEMPLATE_REF.search(a)) for a in args]
