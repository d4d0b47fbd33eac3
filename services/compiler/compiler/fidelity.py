"""Fidelity figures of one compiled guide, judged against a reading of the guide that does not use
the compiler's own decisions: which lines a reader types (prompts, or known tools in a block without
prompts), which prose sentences tell the reader to do something, and where each ended up.

Used by ``bench/compiler.py`` on the golden set and on public guides (whose text stays out of the
repository), and by the tests that hold the golden set to the same figures.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from playbooks_contracts.runbook import CliStep, ManualStep, Runbook, unescape

from . import ontology
from .ir import Code, Text, extract
from .pipeline import CompileResult
from .rules import SQL_LANGS, imperative_sentences
from .shell import OUTPUT_LANGS, POWERSHELL_LANGS, SHELL_LANGS, prompt_of, strip_comment
from .validate import check, errors

_VARISH = re.compile(
    r"\{\{\s*\.?[^}]*\}\}|<[A-Za-z][\w .:/-]*>|\$\{[A-Za-z_]\w*\}|\$[A-Za-z_]\w*|YOUR_[A-Z0-9_]+|\{[A-Za-z_]\w*\}"
)
_BUILTINS = ("for", "while", "until", "if", "case", "exit", "cd")


def _known(word: str) -> bool:
    """A program the ontology knows, also as a ``.sh`` wrapper (``kafka-topics.sh``)."""
    return ontology.is_known_tool(word) or ontology.is_known_tool(word.removesuffix(".sh"))


_QUOTES = re.compile(r"[\"'`\\]")


def _norm(text: str) -> str:
    """Placeholders, quotes and spacing removed: the same command however the compiler wrote its vars."""
    text = _VARISH.sub(" ", unescape(text).replace("{ {", "{{").replace("} }", "}}"))
    return " ".join(_QUOTES.sub("", text).split())


def typed_commands(markdown: str) -> list[tuple[int, str]]:
    """(line, command) a reader types, as the guide shows them: lines after a prompt, and in a block
    with no prompt at all, lines that start with a known tool. SQL blocks count as one command each."""
    out: list[tuple[int, str]] = []
    for code in extract(markdown).code_blocks():
        if code.lang in SQL_LANGS:
            if code.content.strip():
                out.append((code.line_start, code.content.strip()))
            continue
        if code.lang in OUTPUT_LANGS or (code.lang and code.lang not in SHELL_LANGS | POWERSHELL_LANGS):
            continue
        lines = code.content.splitlines()
        prompted = any(prompt_of(ln) for ln in lines)
        k = 0
        while k < len(lines):
            line, start = lines[k], k
            while line.rstrip().endswith("\\") and k + 1 < len(lines):
                k += 1
                line = line.rstrip()[:-1] + " " + lines[k].strip()
            k += 1
            prompt = prompt_of(line)
            body = line[len(prompt) :].strip() if prompt else line.strip()
            root = re.match(r"^\s*#\s+(\S+)", line)
            if not prompt and root and (_known(root.group(1)) or root.group(1) in _BUILTINS):
                # "# systemctl restart x": a root prompt (inside `oc debug node/...`, `sudo -i`)
                out.append((code.line_start + start, line.strip()[1:].strip()))
                continue
            if not body or body.startswith("#"):
                continue
            if prompted and not prompt:
                continue
            first = re.sub(r"^(?:[A-Za-z_]\w*=\S*\s+)+", "", body).split()[0] if body.split() else ""
            typed_shape = (
                _known(first)
                or ontology.is_powershell(body)
                or first.startswith(("/", "./"))  # a script or program by its path
                or first in _BUILTINS
                or re.match(r"^[A-Za-z_]\w*=(\$\(|`)", body) is not None  # X=$(command)
            )
            if not prompted and not typed_shape:
                continue
            out.append((code.line_start + start, strip_comment(body)[0]))
    return out


def _step_texts(runbook: dict[str, Any]) -> list[str]:
    """What each step shows of the guide (read from the plain document: an invalid one counts too)."""
    texts = []
    for step in runbook.get("steps", []):
        for leaf in step.get("steps", [step]) if step.get("type") == "group" else [step]:
            argv = leaf.get("with", {}).get("argv") if leaf.get("type") == "cli" else None
            if argv:
                texts.append(_norm(shlex.join(str(a) for a in argv)))
                texts.append(_norm(" ".join(str(a) for a in argv)))
            else:
                texts.append(_norm(str(leaf.get("instructions", ""))))
                texts += [_norm(str(i)) for e in leaf.get("required_evidence", []) for i in e.get("items", [])]
    return texts


@dataclass
class Figures:
    guides: int = 0
    valid: int = 0
    invented: int = 0
    destructive_cli: int = 0
    typed: int = 0
    typed_in_step: int = 0
    imperatives: int = 0
    imperatives_accounted: int = 0
    output_as_command: int = 0  # a code-block line that is not typed in the guide became a command
    assertions: int = 0
    missed: list[str] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        for name in (
            "guides",
            "valid",
            "invented",
            "destructive_cli",
            "typed",
            "typed_in_step",
            "imperatives",
            "imperatives_accounted",
            "output_as_command",
            "assertions",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.missed += other.missed

    def lines(self) -> list[str]:
        def share(a: int, b: int) -> str:
            return f"{a / b:.3f} ({a}/{b})" if b else "1.000 (0/0)"

        return [
            f"schema-valid share:          {share(self.valid, self.guides)}",
            f"invented commands:           {self.invented}",
            f"destructive cli steps:       {self.destructive_cli}",
            f"typed commands in a step:    {share(self.typed_in_step, self.typed)}",
            f"imperatives accounted for:   {share(self.imperatives_accounted, self.imperatives)}",
            f"output taken for commands:   {self.output_as_command}",
            f"proposed assertions:         {self.assertions}",
        ]


def figures(markdown: str, result: CompileResult, name: str = "") -> Figures:
    """The figures of one guide and its compiled result."""
    block_steps = {s.step_id for s in result.mapping.steps if s.source in ("code block", "session")}
    commands = [(c.line, c.text, c.step_id) for c in result.mapping.commands]
    return figures_of(markdown, result.runbook, result.mapping_markdown, commands, block_steps, name)


def figures_of(
    markdown: str,
    runbook: dict[str, Any],
    mapping_markdown: str,
    commands: list[tuple[int, str, str]],
    block_steps: set[str],
    name: str = "",
) -> Figures:
    """The figures from plain data (so a runbook another version of the compiler wrote is judged by
    the same reading and the same validation): ``commands`` are (line, text, step id) of the mapping,
    ``block_steps`` the ids of the steps made from code blocks."""
    f = Figures(guides=1)
    bad = errors(check(runbook, source=markdown))
    f.valid = int(not any(p.code == "schema" for p in bad))
    f.invented = sum(1 for p in bad if p.code == "provenance")
    if f.valid:
        for step in Runbook.model_validate(runbook).leaf_steps():
            if isinstance(step, CliStep):
                f.assertions += len(step.assertions)
                if not ontology.classify(step.with_.argv).automatable or ontology.policy_refusals(step.with_.argv):
                    f.destructive_cli += 1
            elif isinstance(step, ManualStep):  # a checkpoint asks for no evidence
                f.assertions += sum(len(e.items) for e in step.required_evidence if e.name == "expected_output")
    texts = _step_texts(runbook)
    typed = typed_commands(markdown)
    wanted = [_norm(c) for _, c in typed]
    for line, text, step_id in commands:
        got = _norm(text)
        if step_id in block_steps and got and not any(w and (w in got or got in w) for w in wanted):
            f.output_as_command += 1
            f.missed.append(f"{name}:{line}: output taken for a command: {text[:100]}")
    for line, cmd in typed:
        f.typed += 1
        want = _norm(cmd)
        if any(want in t for t in texts):
            f.typed_in_step += 1
        else:
            f.missed.append(f"{name}:{line}: {cmd[:100]}")
    accounted = _norm(mapping_markdown) + " " + " ".join(texts)
    for el in (e for s in extract(markdown).sections for e in s.elements):
        if isinstance(el, Text):
            for sentence in imperative_sentences(el.text):
                f.imperatives += 1
                if _norm(sentence)[:80] in accounted:
                    f.imperatives_accounted += 1
                else:
                    f.missed.append(f"{name}:{el.line_start}: prose: {sentence[:100]}")
        elif isinstance(el, Code):
            continue
    return f
