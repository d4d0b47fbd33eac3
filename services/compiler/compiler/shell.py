"""Shell text to commands: prompts, comments, continuations, heredocs, loops, placeholders, argv.

Nothing here runs a shell. A command that needs one (pipes, redirects, substitutions, loops,
heredocs, globs, variable expansion) is reported with the reason, so it becomes a manual step.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from dataclasses import dataclass, field

from . import ontology

SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", "shellsession", "terminal", "ksh", "fish"}
POWERSHELL_LANGS = {"powershell", "ps1", "pwsh", "ps", "posh"}
OUTPUT_LANGS = {"text", "txt", "output", "log", "plaintext", "plain", "none", "stdout", "out"}

_PROMPTS = [
    re.compile(r"^\s*PS(?: [^>\n]*)?>\s?"),  # PS> and PS C:\> (PowerShell)
    re.compile(r"^\s*[\w.-]+@[\w.-]+(?::[^$#\n]*)?[$#]\s"),  # user@host:~$
    re.compile(r"^\s*\$\s"),
    re.compile(r"^\s*(?:postgres|psql|\w+)=[#>]\s"),  # psql prompt (postgres=#)
]
_ASSIGN = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
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


def find_placeholders(text: str, line: int) -> list[tuple[int, int, Placeholder]]:
    """(start, end, placeholder) spans in ``text``, left to right, not overlapping."""
    spans: list[tuple[int, int, Placeholder]] = []
    shell_vars = ontology.shell_variables()
    for pattern in _PLACEHOLDERS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in spans):
                continue
            if pattern.pattern.startswith(r"\$") and m.group(1) in shell_vars:
                continue
            spans.append((m.start(), m.end(), Placeholder(var_name(m.group(1)), m.group(0), line)))
    spans.sort(key=lambda s: s[0])
    return spans


def substitute(text: str, placeholders: list[Placeholder]) -> str:
    """Replace each placeholder's raw text by its template."""
    for ph in sorted(placeholders, key=lambda p: -len(p.raw)):
        text = text.replace(ph.raw, "{{ ." + ph.name + " }}")
    return text


def strip_prompt(line: str) -> tuple[bool, str]:
    for pattern in _PROMPTS:
        m = pattern.match(line)
        if m:
            return True, line[m.end() :]
    return False, line


def _strip_comment(line: str) -> tuple[str, str]:
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
    words = re.findall(r"[A-Za-z_]+|[{}]", text)
    return sum(1 for w in words if w in _OPENERS) - sum(1 for w in words if w in _CLOSERS)


def _continues(line: str, powershell: bool) -> bool:
    stripped = line.rstrip()
    return stripped.endswith("\\") or (powershell and stripped.endswith("`"))


def _is_command_line(text: str) -> bool:
    first = text.split(maxsplit=1)[0] if text.split() else ""
    return bool(_COMMAND_WORD.match(first)) or bool(_ASSIGN.match(text))


def looks_like_commands(content: str) -> bool:
    """For an untagged block: prompts, or a first line that starts with a known tool."""
    lines = [ln for ln in content.splitlines() if ln.strip()]
    if not lines:
        return False
    if any(strip_prompt(ln)[0] for ln in lines):
        return True
    first = _strip_comment(lines[0])[0].strip()
    if not first:
        first = next((_strip_comment(ln)[0].strip() for ln in lines if _strip_comment(ln)[0].strip()), "")
    word = first.split()[0] if first.split() else ""
    return ontology.is_known_tool(word) or bool(_ASSIGN.match(first))


def split_block(content: str, first_line: int, *, lang: str = "") -> tuple[list[Command], list[Assignment]]:
    """The commands (and simple assignments) of one shell code block."""
    powershell = lang in POWERSHELL_LANGS
    raw_lines = content.splitlines()
    prompted = any(strip_prompt(ln)[0] for ln in raw_lines)
    commands: list[Command] = []
    assignments: list[Assignment] = []
    comment = ""
    k = 0
    while k < len(raw_lines):
        line_no = first_line + k
        had_prompt, line = strip_prompt(raw_lines[k])
        if prompted and not had_prompt:
            if line.strip() and commands:
                commands[-1].output.append(line.rstrip())
            k += 1
            continue
        code, note = _strip_comment(line)
        if not code.strip():
            comment = note or comment if line.strip() != "" else ""
            k += 1
            continue
        parts = [code.strip()]
        end = k
        # continuations: a trailing backslash (or PowerShell backtick) joins the next line
        while _continues(parts[-1], powershell) and end + 1 < len(raw_lines):
            parts[-1] = parts[-1].rstrip()[:-1].rstrip()
            end += 1
            nxt = strip_prompt(raw_lines[end])[1] if prompted else raw_lines[end]
            if prompted and re.match(r"^\s*>\s", nxt):
                nxt = re.sub(r"^\s*>\s", "", nxt)
            parts.append(_strip_comment(nxt)[0].strip())
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
        elif _depth(text) > 0:
            while _depth(text) > 0 and end + 1 < len(raw_lines):
                end += 1
                nxt = _strip_comment(strip_prompt(raw_lines[end])[1])[0].strip()
                if nxt:
                    text += "\n" + nxt
        k = end + 1
        if not prompted and not _is_command_line(text):
            if commands:
                commands[-1].output.append(text)
            continue
        assign = _ASSIGN.match(text)
        if assign and "$(" not in text and "`" not in text:
            value = assign.group(2)
            with contextlib.suppress(ValueError):
                value = " ".join(shlex.split(value)) if value else ""
            assignments.append(Assignment(var_name(assign.group(1)), value, line_no))
            comment = ""
            continue
        commands.append(parse_command(text, line_no, first_line + end, comment=comment))
        comment = ""
    return commands, assignments


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
                cmd.argv = [
                    _SENTINEL_RE.sub(lambda m: "{{ ." + placeholders[int(m.group(1))].name + " }}", t) for t in tokens
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
