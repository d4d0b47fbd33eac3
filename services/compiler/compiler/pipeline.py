"""The compiler pipeline: Stage A (extract), Stage B (rules, or an LLM that falls back to them), Stage C."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from playbooks_contracts.documents import DocumentTooLarge, check_text, check_tree
from playbooks_platform.errors import Invalid

from . import mapping as mapping_mod
from .ir import TsgIR, extract
from .llm import LlmConfig, LlmFailed, llm_compile
from .mapping import Mapping
from .rules import compile_ir
from .validate import Problem, check, errors

log = logging.getLogger(__name__)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Diagnostic:
    level: str
    code: str
    message: str
    location: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "code": self.code, "message": self.message, "location": self.location}


@dataclass
class CompileResult:
    runbook: dict[str, Any]
    mapping: Mapping
    mapping_markdown: str
    diagnostics: list[Diagnostic]
    engine: str
    ir: TsgIR
    elapsed_ms: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not errors(self.problems)

    @property
    def yaml(self) -> str:
        return dump_yaml(self.runbook)

    def stats(self) -> dict[str, int]:
        steps = self.mapping.steps
        return {
            "steps": len(steps),
            "cli": sum(1 for s in steps if s.type == "cli"),
            "manual": sum(1 for s in steps if s.type == "manual"),
            "approvals": sum(1 for s in steps if s.approval),
            "commands": len(self.mapping.commands),
            "vars": len(self.mapping.vars),
            "todos": len(self.mapping.todos),
            "uncertainties": len(self.mapping.uncertainties),
        }


def dump_yaml(runbook: dict[str, Any]) -> str:
    # libyaml's emitter when present: the pure-Python one dominated compiling a large guide (docs/decisions/0005).
    return yaml.dump(runbook, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def _diagnostics(mapping: Mapping, problems: list[Problem]) -> list[Diagnostic]:
    out = [Diagnostic(p.level, p.code, p.message, p.location) for p in problems]
    out += [Diagnostic("warning", "todo", t) for t in mapping.todos]
    out += [Diagnostic("info", "uncertainty", u) for u in mapping.uncertainties]
    return out


def compile_rules(markdown: str, *, name: str | None = None, source_name: str = "") -> CompileResult:
    """Stage A + rule-based Stage B + Stage C."""
    started = time.perf_counter()
    try:
        check_text(markdown, what="the guide")
    except DocumentTooLarge as exc:
        raise Invalid(str(exc)) from None
    ir = extract(markdown)
    runbook, mapping = compile_ir(ir, name=name, source_name=source_name)
    problems = check(runbook, source=markdown)
    title = runbook["meta"]["name"]
    return CompileResult(
        runbook=runbook,
        mapping=mapping,
        mapping_markdown=mapping_mod.render(mapping, title=title),
        diagnostics=_diagnostics(mapping, problems),
        engine="rules",
        ir=ir,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        problems=problems,
    )


async def compile_document(
    markdown: str, *, name: str | None = None, source_name: str = "", llm: LlmConfig | None = None
) -> CompileResult:
    """Compile with the LLM when one is configured; any failure of it falls back to the rules."""
    if llm is None or not llm.enabled:
        return compile_rules(markdown, name=name, source_name=source_name)
    started = time.perf_counter()
    rules = compile_rules(markdown, name=name, source_name=source_name)
    try:
        runbook, notes = await llm_compile(markdown, rules.ir, config=llm, name=name)
        try:
            check_tree(runbook, what="its runbook")
        except DocumentTooLarge as exc:
            raise LlmFailed(str(exc)) from None
        problems = check(runbook, source=markdown)
        bad = errors(problems)
        if bad:
            raise LlmFailed("its runbook failed validation: " + "; ".join(str(p) for p in bad[:5]))
    except LlmFailed as exc:
        log.warning("llm compile fell back to the rules", extra={"reason": str(exc)[:500]})
        rules.diagnostics.insert(0, Diagnostic("warning", "llm_fallback", f"LLM output not used: {exc}"))
        rules.mapping.uncertainties.insert(0, f"the LLM was asked first and its answer was not used: {exc}")
        rules.mapping_markdown = mapping_mod.render(rules.mapping, title=rules.runbook["meta"]["name"])
        rules.elapsed_ms = (time.perf_counter() - started) * 1000
        return rules
    mapping = _llm_mapping(runbook, notes, rules, source_name)
    return CompileResult(
        runbook=runbook,
        mapping=mapping,
        mapping_markdown=mapping_mod.render(mapping, title=runbook["meta"]["name"]),
        diagnostics=_diagnostics(mapping, problems),
        engine="llm",
        ir=rules.ir,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        problems=problems,
    )


def _llm_mapping(runbook: dict[str, Any], notes: dict[str, Any], rules: CompileResult, source_name: str) -> Mapping:
    """The mapping of an LLM runbook: its own notes where given, section lines from the IR."""
    from playbooks_contracts.runbook import Runbook

    parsed = Runbook.model_validate(runbook)
    by_id = {str(s.get("step_id")): s for s in notes.get("steps", []) if isinstance(s, dict)}
    mapping = Mapping(source_name=source_name, engine="llm")
    rules_types = {s.step_id: s.type for s in rules.mapping.steps}
    for step in parsed.leaf_steps():
        note = by_id.get(step.id, {})
        section = str(note.get("section", ""))
        sec = next((s for s in rules.ir.sections if s.title == section), None)
        commands = [
            c.text for c in rules.mapping.commands if c.step_id == step.id and step.type == rules_types.get(step.id)
        ]
        mapping.steps.append(
            mapping_mod.StepMap(
                step.id,
                step.type,
                step.title or step.id,
                " > ".join(sec.path) if sec else section or "?",
                sec.line_start if sec else 0,
                sec.line_end if sec else 0,
                "llm",
                commands,
                str(note.get("why_manual", "")) if step.type == "manual" else "",
                step.type == "manual" and step.approvals is not None,
            )
        )
    # the source commands the rules found, each with the LLM step that carries it (if any)
    for c in rules.mapping.commands:
        carrier = next((s.step_id for s in mapping.steps if c.text in s.commands), "-")
        mapping.commands.append(mapping_mod.CommandMap(c.line, c.text, carrier, "as decided by the LLM"))
    mapping.vars = [
        mapping_mod.VarMap(k, [], [], v, "" if v else f"set `{k}`; no value in the guide")
        for k, v in parsed.meta.defaults().items()
    ]
    mapping.todos = [str(t) for t in notes.get("todos", []) if isinstance(t, str)] + [
        v.todo for v in mapping.vars if v.todo
    ]
    mapping.uncertainties = [str(u) for u in notes.get("uncertainties", []) if isinstance(u, str)]
    return mapping
