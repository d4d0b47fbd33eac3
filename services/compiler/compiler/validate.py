"""Stage C: schema-valid, governance-consistent, replay-compatible, and no invented command."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from playbooks_contracts.runbook import (
    BRACE_ESCAPE,
    TEMPLATE_REF,
    CliStep,
    Governance,
    Runbook,
    iter_leaves,
    unescape,
    validate_runbook,
)

from . import ontology
from .shell import source_tokens

Level = Literal["error", "warning", "info"]
_SHELL_TOKENS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "<<", "2>", "2>&1", "(", ")"}


@dataclass(frozen=True)
class Problem:
    level: Level
    code: str  # schema | governance | replay | provenance
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.location}: {self.message} [{self.code}]"


class Provenance:
    """Answers whether a piece of text comes from the source guide."""

    def __init__(self, source: str) -> None:
        self.text = source
        self.lines = source.splitlines()
        self.tokens = source_tokens(source.replace("`", " "))
        self._words = " ".join(source.split())
        self._in_order: dict[str, bool] = {}

    def word(self, token: str) -> bool:
        if token in self.tokens:
            return True
        # The substring test (linear) first: the bounded search below runs only where the token is.
        if token not in self.text:
            return False
        return re.search(r"(?<![\w./-])" + re.escape(token) + r"(?![\w/-])", self.text) is not None

    def token(self, token: str) -> bool:
        """A literal token, or one whose literal parts (around templates) appear in order on one line."""
        token = unescape(token)
        parts = [p for p in TEMPLATE_REF.split(token)[::2] if p]
        if not TEMPLATE_REF.search(token):
            return self.word(token)
        if not parts:
            return True
        if token not in self._in_order:
            self._in_order[token] = any(_in_order(parts, t) for t in self.tokens) or any(
                _in_order(parts, line) for line in self.lines
            )
        return self._in_order[token]

    def value(self, text: str) -> bool:
        return text in self.text or " ".join(text.split()) in self._words


def _in_order(parts: list[str], text: str) -> bool:
    """Whether ``parts`` occur in ``text`` in order, each after at least one character following the
    previous one (what ``a.+?b`` matched on one line), in linear time: the earliest occurrence of
    each part leaves the most room for the rest, so no choice is ever revisited. The regex this
    replaces backtracked: four parts over a 362-byte guide took over 30 s, eight would take days."""
    at = text.find(parts[0])
    if at < 0:
        return False
    at += len(parts[0])
    for part in parts[1:]:
        at = text.find(part, at + 1)
        if at < 0:
            return False
        at += len(part)
    return True


def check(data: Any, *, source: str | None = None) -> list[Problem]:
    """Every problem of a runbook document; with ``source``, also what does not come from it."""
    problems = [Problem("error", "schema", p.location, p.message) for p in validate_runbook(data)]
    if problems:
        return problems
    runbook = Runbook.model_validate(data)
    governance = runbook.meta.governance
    used: set[str] = set()
    prov = Provenance(source) if source is not None else None
    for loc, step in iter_leaves(runbook):
        if not isinstance(step, CliStep):
            continue
        used.add(step.with_.argv[0])
        problems += _cli_problems(loc, step, governance)
        if prov is not None:
            problems += _cli_provenance(loc, step, prov)
    problems += _allowed_problems(governance, used)
    if prov is not None:
        problems += _default_provenance(runbook, prov)
    for loc, step in iter_leaves(runbook):
        if step.type == "manual" and not step.required_evidence and governance.evidence.require_for_manual:
            problems.append(
                Problem("warning", "governance", f"{loc}.required_evidence", "a manual step without evidence")
            )
    return problems


def _cli_problems(loc: str, step: CliStep, governance: Governance) -> list[Problem]:
    """A cli step's program and arguments: literal, allowed, read-only, and no shell syntax."""
    problems = []
    argv = step.with_.argv
    if TEMPLATE_REF.search(argv[0]):
        problems.append(Problem("error", "replay", f"{loc}.with.argv[0]", "the program must be literal"))
    if argv[0] in governance.deny_commands:
        problems.append(Problem("error", "governance", f"{loc}.with.argv[0]", f"{argv[0]} is on deny_commands"))
    verdict = ontology.classify(argv)
    if not verdict.automatable:
        problems.append(
            Problem(
                "error",
                "governance",
                f"{loc}.with.argv",
                f"{verdict.reason}: only read-only commands of known tools may be cli steps; "
                "make it a manual step" + (" with an approval" if verdict.kind != "read" else ""),
            )
        )
    for reason in ontology.policy_refusals(argv, dict(governance.commands)):
        problems.append(Problem("error", "governance", f"{loc}.with.argv", reason))
    for k, arg in enumerate(argv):
        foreign = BRACE_ESCAPE.search(arg) is not None  # another tool's template: its $x are its own
        if arg in _SHELL_TOKENS or "$(" in arg or "`" in arg or (not foreign and re.search(r"\$[A-Za-z_{]", arg)):
            problems.append(
                Problem(
                    "error",
                    "replay",
                    f"{loc}.with.argv[{k}]",
                    f"{arg!r} is shell syntax; argv runs without a shell, so this cannot run or replay as written",
                )
            )
    return problems


def _cli_provenance(loc: str, step: CliStep, prov: Provenance) -> list[Problem]:
    """A cli step's arguments and asserted values that the guide does not give (invented)."""
    problems = []
    for k, arg in enumerate(step.with_.argv):
        if not prov.token(arg):
            problems.append(
                Problem(
                    "error",
                    "provenance",
                    f"{loc}.with.argv[{k}]",
                    f"{arg!r} does not come from the guide or from a declared variable (invented)",
                )
            )
    for j, assertion in enumerate(step.assertions):
        value = assertion.contains or assertion.not_contains or assertion.equals
        if value is not None and not prov.value(value):
            problems.append(
                Problem("error", "provenance", f"{loc}.assertions[{j}]", f"{value!r} is not stated in the guide")
            )
    return problems


def _allowed_problems(governance: Governance, used: set[str]) -> list[Problem]:
    """allowed_commands names exactly the tools the cli steps use, none of them denied."""
    problems = []
    allowed = set(governance.allowed_commands)
    for name in sorted(used - allowed):
        problems.append(
            Problem("error", "governance", "meta.governance.allowed_commands", f"{name} is used but not allowed")
        )
    for name in sorted(allowed - used):
        problems.append(
            Problem(
                "error",
                "governance",
                "meta.governance.allowed_commands",
                f"{name} is allowed but no cli step uses it (allow exactly the tools used)",
            )
        )
    for name in sorted(allowed & set(governance.deny_commands)):
        problems.append(Problem("error", "governance", "meta.governance", f"{name} is both allowed and denied"))
    return problems


def _default_provenance(runbook: Runbook, prov: Provenance) -> list[Problem]:
    return [
        Problem(
            "error",
            "provenance",
            f"meta.vars.{name}",
            f"default {default!r} is not in the guide; leave it empty with a TODO",
        )
        for name, default in runbook.meta.defaults().items()
        if default and not prov.value(default)
    ]


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]
