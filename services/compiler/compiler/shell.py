"""Shell text to commands: prompts, comments, continuations, heredocs, loops, placeholders, argv.

Nothing here runs a shell. A command that needs one (pipes, redirects, substitutions, loops,
heredocs, globs, variable expansion) is reported with the reason, so it becomes a manual step.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from dataclasses import dataclass, field

from playbooks_contracts import command_ontology
from playbooks_contracts.runbook import escape_braces

from . import ontology

SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", "shellsession", "terminal", "ksh", "fish"}
POWERSHELL_LANGS = {"powershell", "ps1", "pwsh", "ps", "posh"}
OUTPUT_LANGS = {"text", "txt", "output", "log", "plaintext", "plain", "none", "stdout", "out"}

_PROMPTS = [
    re.compile(r"^\s*PS(?: [^>\n]*)?>\s?"),  # PS> and PS C:\> (PowerShell)
    re.compile(r"^\s*[\w.-]+@[\w.-]+(?::[^$#\n]*)?[$#]\s"),  # user@host:~$
    re.compile(r"^\s*\[[\w.@-]+(?:\s[^\]\n]*)?\][$#]\s"),  # [root@host ~]#
    re.compile(r"^\s*(?:sh|bash|zsh|ash)-\d[\d.]*[$#]\s"),  # sh-4.4# (oc debug, toolbox)
    re.compile(r"^\s*[a-z][\w.-]*[a-z0-9][$#%]\s"),  # ncn-mw# , host$
    re.compile(r"^\s*[a-z][\w.-]*[a-z0-9]\s+[$#]\s+(?=\S)"),  # patroni-01-db-gstg $ , workstation   $
    re.compile(r"^\s*\$\s"),
    re.compile(r"^\s*(?:postgres|psql|\w+)=[#>]\s"),  # psql prompt (postgres=#)
    re.compile(r"^\s*(?:mysql|redis[\w.:-]*|mongo\w*|irb\([^)]*\)[\w:]*)>\s"),  # other REPLs (mysql> )
    re.compile(r"^\s*>>>\s"),  # python
]
_ROOT_PROMPT = re.compile(r"^\s*#\s+(?=\S)")
_ROOT_ONLY = re.compile(r"^(?:#|(?:sh|bash|zsh|ash)-\d[\d.]*#)$")
ROOT_SHELL = "a root shell on the node or host the guide works on (its `#` prompt)"
# Command knowledge comes from the shared ontology (one data source with the command policy).
_SESSION_PROGRAMS = set(command_ontology.SESSION_PROGRAMS)
_NO_COMMAND_FLAGS = set(command_ontology.SESSION_COMMAND_FLAGS)
_OUTER_TOOLS = set(command_ontology.OPERATOR_CLIENTS)
_ASSIGN = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$")
_ENV_PREFIX = re.compile(r"^(?:[A-Za-z_]\w*=(?:'[^']*'|\"[^\"]*\"|\S*)\s+)+")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_FUNCTION = re.compile(r"^(?:function\s+[\w.-]+|[\w.-]+\s*\(\s*\))\s*(?:\{|$)")
_OPENERS = {"for", "while", "until", "if", "case", "select"}
_CLOSERS = {"done", "fi", "esac"}
_PLACEHOLDERS = [
    re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"),
    re.compile(r"<([A-Za-z][A-Za-z0-9_.-]*)>"),
    re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"),
    re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"(?<![{$%\w])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})"),
    re.compile(r"\b(YOUR_[A-Z0-9_]+)\b"),
]
_SENTINEL = "PHxVARx{}xEND"
_SENTINEL_RE = re.compile(r"PHxVARx(\d+)xEND")
_COMMAND_WORD = re.compile(r"^(?:[a-z./~_][\w.+/-]*|[A-Z][a-z]+-[A-Z]\w+)$")


@dataclass
class Placeholder:
    name: str
    raw: str
    line: int


@dataclass
class Command:
    """One command as written in the guide, and how it would run without a shell."""

    text: str  # prompt, comment and continuations removed
    line_start: int
    line_end: int
    comment: str = ""  # the comment line just above it, if any
    origin: str = "block"  # block | inline | sql
    argv: list[str] | None = None  # placeholders as {{ .name }}; None when it needs a shell
    shell: str | None = None  # why it needs a shell
    placeholders: list[Placeholder] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # example output shown under it
    session: list[tuple[int, str]] = field(default_factory=list)  # (line, text) typed in the session it opens
    session_of: str = ""  # set when this only holds lines typed in a session an earlier block opened

    def template_text(self) -> str:
        """The command with its placeholders written as templates."""
        return substitute(self.text, self.placeholders)


@dataclass
class Assignment:
    name: str
    value: str
    line: int


def var_name(raw: str) -> str:
    """A placeholder's var name: lower snake case, without a leading 'your'."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", raw).strip("_").lower()
    if name.startswith("your_") and len(name) > 5:
        name = name[5:]
    name = re.sub(r"_+", "_", name) or "value"
    if name[0].isdigit():
        name = "v_" + name
    return name[:64]


def _quoted_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, quote) of each quoted span, as a POSIX shell reads the quotes."""
    spans: list[tuple[int, int, str]] = []
    quote, start, k = "", 0, 0
    while k < len(text):
        ch = text[k]
        if quote == "'":
            if ch == "'":
                spans.append((start, k + 1, quote))
                quote = ""
        elif ch == "\\":
            k += 1
        elif quote == '"':
            if ch == '"':
                spans.append((start, k + 1, quote))
                quote = ""
        elif ch in "'\"":
            quote, start = ch, k
        k += 1
    return spans


def find_placeholders(text: str, line: int) -> list[tuple[int, int, Placeholder]]:
    """(start, end, placeholder) spans in ``text``, left to right, not overlapping. Inside single
    quotes only ``<name>`` and ``YOUR_NAME`` are placeholders (``'{{range $k, $v := .x}}'`` is another
    tool's template, and the shell never expands ``$k`` there); inside double quotes ``{{...}}`` is."""
    spans: list[tuple[int, int, Placeholder]] = []
    shell_vars = ontology.shell_variables()
    quoted = _quoted_spans(text)

    def quote_at(pos: int) -> str:
        return next((q for s, e, q in quoted if s < pos < e), "")

    for pattern in _PLACEHOLDERS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in spans):
                continue
            if pattern.pattern.startswith(r"\$") and m.group(1) in shell_vars:
                continue
            quote = quote_at(m.start())
            if quote == "'" and not m.group(0).startswith(("<", "YOUR_")):
                continue
            if quote == '"' and m.group(0).startswith("{"):
                continue
            spans.append((m.start(), m.end(), Placeholder(var_name(m.group(1)), m.group(0), line)))
    spans.sort(key=lambda s: s[0])
    return spans


def substitute(text: str, placeholders: list[Placeholder]) -> str:
    """Replace each placeholder's raw text by its template."""
    for ph in sorted(placeholders, key=lambda p: -len(p.raw)):
        text = text.replace(ph.raw, "{{ ." + ph.name + " }}")
    return text


def prompt_of(line: str) -> str:
    """The prompt a line starts with ('' when none)."""
    for pattern in _PROMPTS:
        m = pattern.match(line)
        if m:
            return line[: m.end()]
    return ""


def strip_prompt(line: str) -> tuple[bool, str]:
    for pattern in _PROMPTS:
        m = pattern.match(line)
        if m:
            return True, line[m.end() :]
    return False, line


def strip_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one line; a # inside quotes or a word is not a comment."""
    quote = ""
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1] in " \t"):
            return line[:k].rstrip(), line[k + 1 :].strip()
    return line.rstrip(), ""


def _depth(text: str) -> int:
    """Open loops and conditionals: keywords in command position only, never inside quotes (a jq
    ``select(...)`` or a word "for" in a message opens nothing)."""
    bare = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", " ", text)
    words = re.findall(r"(?:^|[;&|(`\n]|\bdo|\bthen|\belse)\s*([A-Za-z_]+)", bare)
    return sum(1 for w in words if w in _OPENERS) - sum(1 for w in words if w in _CLOSERS)


def _continues(line: str, powershell: bool) -> bool:
    stripped = line.rstrip()
    return stripped.endswith("\\") or (powershell and stripped.endswith("`"))


def _is_command_line(text: str) -> bool:
    """A line a reader types, not a line of output: a known tool, an assignment, a path to a program,
    or a command-shaped word that is not followed by log-like text ("received unexpected HTTP status:
    500" is output, "vault status" a command)."""
    text = text.split("\n", 1)[0]
    if _ASSIGN.match(text):
        return True
    text = _ENV_PREFIX.sub("", text)  # APP_ENV=prod ansible-playbook ...: the program decides
    words = text.split()
    if not words:
        return False
    first = words[0]
    if ontology.is_known_tool(first) or _ASSIGN.match(text) or ontology.is_powershell(text):
        return True
    if first in _OPENERS | {"function", "cd", "export", "source", "."} or _FUNCTION.match(text):
        return True
    if re.match(r"^(?:export\s+)?[A-Za-z_]\w*=(?:\$\(|`|\"\$\()", text):
        return True  # X=$(kubectl get ...): it runs a command
    if not _COMMAND_WORD.match(first):
        return False
    if first.startswith(("./", "/", "~")):
        return True
    if len(re.findall(r"\S {2,}\S", text)) >= 2:
        return False  # columns of a table printed by some command
    if re.match(r"^[A-Za-z_][\w:]*\(", text) or (len(words) == 1 and "_" in first):
        return False  # a query (PromQL, SQL function) or a metric name, not a shell command
    if any(not re.match(r"\s*[A-Za-z./~_$\[]", seg) for seg in text.split(" | ")[1:]):
        return False  # "info | 1636380469.57 | ...": a log record, not a pipeline
    rest = text[len(first) :]
    if re.search(r"\w:(\s|$)|\b\d{3}\b.*:|^\s+(is|are|was|were|the|a|an|to|of|in|for|has|have|not)\b", rest):
        return False  # prose or a log line: "received unexpected HTTP status: 500 ..."
    # prose has no options, paths, quotes, assignments or placeholders; a command usually has one
    return len(words) < 4 or any(re.search(r"[-/=.'\"$<{_@:]", w) for w in words[1:])


def opens_session(text: str) -> bool:
    """Whether a command starts an interactive session the next lines are typed into."""
    text = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)", "SUBSTITUTED", text)  # $(...) names one thing
    try:
        argv = shlex.split(text)
    except ValueError:
        return False
    while argv and (argv[0] in ("sudo", "doas") or _ASSIGN.match(argv[0])):
        argv = argv[1:]
        while argv and argv[0].startswith("-") and argv[0] not in ("-i", "-s"):
            argv = argv[2:] if argv[0] in ("-u", "-g", "--user") else argv[1:]
        if argv and argv[0] in ("-i", "-s"):
            return True
    if not argv:
        return False
    prog = argv[0].rsplit("/", 1)[-1]
    args = argv[1:]
    spec = ontology.tools().get(prog, {})
    words = ontology.positionals(args, set(spec.get("value_options", [])))
    if prog in ("oc", "kubectl") and words[:1] == ["debug"]:
        return "--" not in args
    if prog in ("oc",) and words[:1] == ["rsh"]:
        return len(words) <= 2 and "--" not in args
    interactive = any(a in ("-it", "-ti", "-i", "-t", "--stdin", "--tty") for a in args)
    if prog in ("kubectl", "oc", "docker", "podman", "nerdctl") and words[:1] == ["run"] and interactive:
        # kubectl run -it --rm test --image=debian: a shell in a new pod, unless a command follows
        tail = args[args.index("--") + 1 :] if "--" in args else []
        return not tail or _session_tail(tail)
    if prog in ("kubectl", "oc", "docker", "podman", "crictl", "nerdctl") and "exec" in words[:2]:
        tail = args[args.index("--") + 1 :] if "--" in args else words[-1:]
        interactive = any(a in ("-it", "-ti", "-i", "-t", "--stdin", "--tty") for a in args)
        return interactive and bool(tail) and _session_tail(tail)
    if prog == "ssh":
        return len(_ssh_positionals(args)) == 1
    if prog == "aws" and words[:2] == ["ssm", "start-session"]:
        return "--document-name" not in args  # a shell on the instance unless a document says otherwise
    if prog == "gcloud" and "ssh" in words[:3]:
        return not any(a == "--command" or a.startswith("--command=") or a == "--" for a in args)
    if prog == "az" and words[:2] in (["ssh", "vm"], ["ssh", "arc"]):
        return True
    if prog == "chroot":
        return len(words) == 1
    if prog in ("su",):
        return True
    if prog in ("gitlab-rails", "rails") and words[:1] in (["console"], ["c"], ["dbconsole"]):
        return True
    if prog in ("nsenter", "machinectl", "toolbox"):
        return not any(a in ("--", "-c") for a in args) or prog == "toolbox"
    return _session_tail([prog, *args])


def _session_tail(tail: list[str]) -> bool:
    prog = tail[0].rsplit("/", 1)[-1]
    if prog == "su" or (prog in ("sudo",) and any(a in ("-i", "-s", "su") for a in tail[1:])):
        return True
    if tail[0] not in _SESSION_PROGRAMS and prog not in _SESSION_PROGRAMS:
        return False
    if any(a in _NO_COMMAND_FLAGS or a.startswith(("--command=", "-c", "--eval=")) for a in tail[1:]):
        return False
    if prog in ("bash", "sh", "zsh", "ash", "python", "python3", "irb"):
        return not [a for a in tail[1:] if not a.startswith("-")]
    if prog == "redis-cli":
        known = {"-h", "-p", "-a", "-n", "--user", "--pass", "-u"}
        pos = [a for k, a in enumerate(tail[1:]) if not a.startswith("-") and tail[k] not in known]
        return not pos
    return True


def _ssh_positionals(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a.startswith("-"):
            skip = len(a) == 2 and a[1] in "bcDEeFIiJLlmOopQRSWw"
        else:
            out.append(a)
    return out


def looks_like_commands(content: str) -> bool:
    """For an untagged block: prompts, a first line that starts with a known tool, or lines that are
    mostly command-shaped with at least one known tool among them (a comment may come first)."""
    lines = [ln for ln in content.splitlines() if ln.strip()]
    if not lines:
        return False
    if any(strip_prompt(ln)[0] for ln in lines) or _root_prompted(lines, False):
        return True
    code = [c for c in (strip_comment(ln)[0].strip() for ln in lines) if c]
    if not code:
        return False
    word = code[0].split()[0]
    if ontology.is_known_tool(word) or bool(_ASSIGN.match(code[0])) or word in _OPENERS | {"function"}:
        return True
    shaped = [c for c in code if _is_command_line(c)]
    known = [c for c in shaped if ontology.is_known_tool(c.split()[0])]
    return bool(known) and _is_command_line(code[0]) and 5 * len(shaped) >= 4 * len(code)


@dataclass
class SessionState:
    """A session left open at the end of a block, for the blocks after it in the same section."""

    opener: str = ""
    prompt: str = ""
    typed: bool = False  # lines were already typed into it


def _continues_session(raw_lines: list[str], prompts: list[str], state: SessionState, root: bool) -> bool:
    """Whether a block is typed into the session the previous block left open: its prompt is not the
    outer shell's, or the session has nothing typed yet and the block does not start with a tool run
    from the operator's machine."""
    first_prompt = next((p.strip() for p in prompts if p), None)
    bodies = [ln[len(p) :].strip() if p else ln.strip() for p, ln in zip(prompts, raw_lines, strict=True)]
    first = next((b.split()[0] for b in bodies if b and not b.startswith("#")), "")
    outer = first.rsplit("/", 1)[-1] in _OUTER_TOOLS
    if first_prompt is not None and (root or first_prompt != state.prompt):
        return True
    # the outer shell's own prompt, or none: typed in the session only right after it was opened
    # ("$ oc rsh etcd-pod" then "$ etcdctl version"), and never a client run from the operator's machine
    return not state.typed and bool(first) and not outer


def _root_prompted(raw_lines: list[str], session_open: bool, lang: str = "") -> bool:
    """Whether '# word' lines are a root prompt rather than comments: the word is a known tool and
    either a session is open or no other line of the block says otherwise."""
    hashed = [ln for ln in raw_lines if _ROOT_PROMPT.match(ln)]
    if not hashed:
        return False
    known = [ln for ln in hashed if ontology.is_known_tool(ln.split()[1] if len(ln.split()) > 1 else "")]
    if not known:
        return False
    others = [ln for ln in raw_lines if ln.strip() and not _ROOT_PROMPT.match(ln)]
    transcript = lang in ("console", "shell-session", "shellsession", "terminal")
    return (
        session_open
        or transcript
        or len(known) == len(hashed)
        or (not others and 2 * len(known) >= len(hashed))
        or any(prompt_of(ln) for ln in others)
    )


def split_block(
    content: str, first_line: int, *, lang: str = "", session: SessionState | None = None
) -> tuple[list[Command], list[Assignment]]:
    """The commands (and simple assignments) of one shell code block. Lines typed inside a session a
    command opens (``oc debug node/x``, ``kubectl exec -it pod -- bash``, ``ssh host``, ``psql``)
    are kept with that command (``Command.session``), never run on their own; ``session`` carries a
    session left open into the next block of the same section."""
    state = session if session is not None else SessionState()
    powershell = lang in POWERSHELL_LANGS
    raw_lines = content.splitlines()
    root = _root_prompted(raw_lines, bool(state.opener), lang)
    prompts = _prompts(raw_lines, root)
    prompted = any(prompts)
    commands: list[Command] = []
    assignments: list[Assignment] = []
    comment = ""
    # the command whose session the next lines are typed into
    opener = _session_at_start(raw_lines, prompts, state, root, first_line)
    if opener is not None:
        commands.append(opener)
    outer_prompt = ""
    k = 0
    while k < len(raw_lines):
        line_no = first_line + k
        prompt = prompts[k]
        line = raw_lines[k][len(prompt) :] if prompt else raw_lines[k]
        if prompted and not prompt:
            if line.strip() and commands:
                commands[-1].output.append(line.rstrip())
            k += 1
            continue
        code, note = strip_comment(line) if not (opener is not None and not prompted) else (line.rstrip(), "")
        if opener is not None and not prompted and line.strip().startswith("#"):
            code, note = "", line.strip()[1:].strip()
        if not code.strip():
            comment = note or comment if line.strip() != "" else ""
            k += 1
            continue
        text, end = _logical_line(raw_lines, prompts if prompted else None, k, code, powershell)
        k = end + 1
        this_prompt = prompt.strip()
        if opener is not None:
            # inside a session: everything typed until the prompt of the outer shell comes back
            if prompted and outer_prompt and this_prompt == outer_prompt:
                opener = None
            else:
                opener.session.append((line_no, text))
                opener.line_end = first_line + end
                if text.strip() in ("exit", "logout", "\\q", "quit", "exit;"):
                    opener = None  # the session ends here; what follows runs in the outer shell
                continue
        if not prompted and not _is_command_line(text):
            if commands:
                commands[-1].output.append(text)
            continue
        assignment = _assignment(text, line_no)
        if assignment is not None:
            assignments.append(assignment)
            comment = ""
            continue
        cmd = parse_command(text, line_no, first_line + end, comment=comment)
        commands.append(cmd)
        comment = ""
        if opens_session(text):
            opener = cmd
            outer_prompt = this_prompt
    _carry(state, opener, outer_prompt)
    return [c for c in commands if c.text or c.session], assignments


def _session_at_start(
    raw_lines: list[str], prompts: list[str], state: SessionState, root: bool, first_line: int
) -> Command | None:
    """The session a block's first lines are typed into: one the block before left open, or a root
    shell on some node when every prompt is root's."""
    if state.opener and _continues_session(raw_lines, prompts, state, root):
        return Command("", first_line, first_line, session_of=state.opener)
    if any(prompts) and all(_ROOT_ONLY.match(p.strip()) for p in prompts if p):
        # "# systemctl restart x" or "sh-4.4# ...": typed as root on some node, never run from here
        return Command("", first_line, first_line, session_of=ROOT_SHELL)
    return None


def _carry(state: SessionState, opener: Command | None, outer_prompt: str) -> None:
    """A session still open at the end of the block continues into the next block of the section."""
    if opener is not None:
        opened = opener.session_of or opener.template_text()
        state.opener, state.prompt, state.typed = opened, outer_prompt, bool(opener.session)
    else:
        state.opener, state.prompt, state.typed = "", "", False


def _prompts(raw_lines: list[str], root: bool) -> list[str]:
    """Each line's prompt ("" for none); in a block typed at a root shell, a bare ``#`` is one too."""
    prompts = [prompt_of(ln) for ln in raw_lines]
    if root:
        prompts = [
            p or (m.group(0) if (m := _ROOT_PROMPT.match(ln)) else "") for p, ln in zip(prompts, raw_lines, strict=True)
        ]
    return prompts


def _logical_line(
    raw_lines: list[str], prompts: list[str] | None, k: int, code: str, powershell: bool
) -> tuple[str, int]:
    """(the command that starts with ``code`` on line ``k``, its last line): continued lines joined,
    a heredoc's body, a function's body or an open quote or bracket taken in. ``prompts`` when the
    block is prompted."""
    parts = [code.strip()]
    end = k
    # continuations: a trailing backslash (or PowerShell backtick) joins the next line
    while _continues(parts[-1], powershell) and end + 1 < len(raw_lines):
        parts[-1] = parts[-1].rstrip()[:-1].rstrip()
        end += 1
        nxt = raw_lines[end][len(prompts[end]) :] if prompts is not None else raw_lines[end]
        if prompts is not None and re.match(r"^\s*>\s", nxt):
            nxt = re.sub(r"^\s*>\s", "", nxt)
        parts.append(strip_comment(nxt)[0].strip())
    text = " ".join(p for p in parts if p)
    heredoc = _HEREDOC.search(text)
    if heredoc:
        word = heredoc.group(2)
        body = []
        while end + 1 < len(raw_lines):
            end += 1
            body.append(raw_lines[end])
            if raw_lines[end].strip() == word:
                break
        text = text + "\n" + "\n".join(body)
    elif _FUNCTION.match(text):
        braces = text.count("{") - text.count("}")
        while (braces > 0 or "{" not in text) and end + 1 < len(raw_lines):
            end += 1
            nxt = raw_lines[end].rstrip()
            text += "\n" + nxt
            braces += nxt.count("{") - nxt.count("}")
    elif _depth(text) > 0:
        while _depth(text) > 0 and end + 1 < len(raw_lines):
            end += 1
            nxt = strip_comment(strip_prompt(raw_lines[end])[1])[0].strip()
            if nxt:
                text += "\n" + nxt
    return text, end


def _assignment(text: str, line_no: int) -> Assignment | None:
    """``NAME=value`` with a literal value (no command substitution), its quotes removed."""
    assign = _ASSIGN.match(text)
    if not assign or "$(" in text or "`" in text:
        return None
    value = assign.group(2)
    with contextlib.suppress(ValueError):
        value = " ".join(shlex.split(value)) if value else ""
    return Assignment(var_name(assign.group(1)), value, line_no)


def shell_reason(text: str) -> str | None:
    """Why ``text`` (placeholders already replaced) cannot run as a plain argv, or None."""
    if _HEREDOC.search(text):
        return "heredoc"
    if "$(" in text or "`" in text:
        return "command substitution"
    words = re.findall(r"[A-Za-z_]+", text.split("\n", 1)[0])
    if words and words[0] in _OPENERS | {"function"}:
        return "loop or conditional"
    quote = ""
    k = 0
    word_start = True
    while k < len(text):
        ch = text[k]
        nxt = text[k + 1] if k + 1 < len(text) else ""
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\" and quote != "'":
            k += 2
            word_start = False
            continue
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == "$" and re.match(r"[A-Za-z_{0-9@*#?!$-]", nxt):
                return "shell variable expansion"
        elif ch in "'\"":
            quote = ch
        elif ch == "|":
            return "command list" if nxt == "|" else "pipe"
        elif ch == "&":
            return "command list" if nxt == "&" else ("redirect" if nxt == ">" else "background job")
        elif ch == ";":
            return "command list"
        elif ch in "<>":
            return "redirect"
        elif ch in "()":
            return "subshell"
        elif ch == "$" and re.match(r"[A-Za-z_{0-9@*#?!$-]", nxt):
            return "shell variable expansion"
        elif ch in "*?" or (ch == "~" and word_start):
            return "glob or home expansion"
        word_start = ch in " \t\n"
        k += 1
    if quote:
        return "unbalanced quoting"
    return None


def parse_command(text: str, line_start: int, line_end: int, *, comment: str = "", origin: str = "block") -> Command:
    """One command: placeholders found, the shell constructs it needs, and its argv if it needs none."""
    bound = set(re.findall(r"\bfor\s+([A-Za-z_]\w*)\s+in\b|\bread\s+(?:-\w+\s+)*([A-Za-z_]\w*)", text))
    names = {n for pair in bound for n in pair if n}
    names |= set(re.findall(r"(?:^|[\s;(])([A-Za-z_]\w*)=", text))
    spans = [
        sp
        for sp in find_placeholders(text, line_start)
        if not (sp[2].raw.startswith("$") and sp[2].raw.strip("${}") in names)
    ]
    placeholders = [ph for _, _, ph in spans]
    sanitized = text
    for n, (s, e, _) in reversed(list(enumerate(spans))):
        sanitized = sanitized[:s] + _SENTINEL.format(n) + sanitized[e:]
    cmd = Command(text, line_start, line_end, comment=comment, origin=origin, placeholders=placeholders)
    reason = shell_reason(sanitized)
    if reason is None:
        try:
            tokens = shlex.split(sanitized)
        except ValueError as exc:
            reason = f"unbalanced quoting ({exc})"
        else:
            if not tokens:
                reason = "empty command"
            else:
                # other tools' braces stay literal (the runbook's escape); placeholders become templates
                cmd.argv = [
                    _SENTINEL_RE.sub(lambda m: "{{ ." + placeholders[int(m.group(1))].name + " }}", escape_braces(t))
                    for t in tokens
                ]
    cmd.shell = reason
    return cmd


def source_tokens(text: str) -> set[str]:
    """Every word of every line of ``text`` as shlex would split it (best effort), for provenance."""
    out: set[str] = set()
    for line in text.splitlines():
        body = strip_prompt(line)[1]
        try:
            out.update(shlex.split(body, comments=False))
        except ValueError:
            out.update(body.split())
    return out
