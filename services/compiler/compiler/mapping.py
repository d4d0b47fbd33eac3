"""The mapping report: which step came from where, and what the compiler could not decide."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepMap:
    step_id: str
    type: str
    title: str
    section: str
    line_start: int
    line_end: int
    source: str  # code block | inline command | sql block | checklist | prose | table
    commands: list[str] = field(default_factory=list)
    why_manual: str = ""
    approval: bool = False


@dataclass
class CommandMap:
    line: int
    text: str
    step_id: str
    verdict: str


@dataclass
class VarMap:
    name: str
    written: list[str]
    lines: list[int]
    default: str
    todo: str = ""


@dataclass
class BlockMap:
    line_start: int
    line_end: int
    lang: str
    decision: str  # used by steps ... | kept as reference: ... | dropped: ...


@dataclass
class ProseMap:
    line: int
    sentence: str
    where: str  # the step that carries it, or "TODO"


@dataclass
class Mapping:
    source_name: str
    engine: str = "rules"
    steps: list[StepMap] = field(default_factory=list)
    commands: list[CommandMap] = field(default_factory=list)
    vars: list[VarMap] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)
    uncertainties: list[str] = field(default_factory=list)
    blocks: list[BlockMap] = field(default_factory=list)
    prose: list[ProseMap] = field(default_factory=list)
    sections: list[tuple[str, int, int]] = field(default_factory=list)  # (path, first line, last line)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or " "


def _code(text: str) -> str:
    text = text.replace("\n", " ⏎ ")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _table(heading: str, columns: list[str], rows: list[str], *, empty: str = "None.") -> list[str]:
    """A section of mapping.md: its heading, then a table of ``rows`` or ``empty``."""
    out = ["", f"## {heading}", ""]
    if not rows:
        return [*out, empty]
    return [*out, "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), *rows]


def _var_rows(variables: list[VarMap]) -> list[str]:
    rows = []
    for v in variables:
        written = ", ".join(_code(w) for w in v.written)
        default = _code(v.default) if v.default else "(none)"
        lines = ", ".join(str(n) for n in v.lines)
        rows.append(f"| `{v.name}` | {_cell(written)} | {lines} | {_cell(default)} | {_cell(v.todo or '-')} |")
    return rows


def _section_rows(mapping: Mapping) -> list[str]:
    rows = []
    for path, start, end in mapping.sections:
        ids = [s.step_id for s in mapping.steps if s.section == path]
        where = ", ".join(f"`{i}`" for i in ids) or "no step: prose, links or reference only (nothing to run)"
        rows.append(f"| {_cell(path or '(before the first heading)')} | {start}-{end} | {where} |")
    return rows


def render(mapping: Mapping, *, title: str) -> str:
    """mapping.md as Markdown tables."""
    out = [f"# Mapping: {title}", ""]
    n_cli = sum(1 for s in mapping.steps if s.type == "cli")
    n_manual = sum(1 for s in mapping.steps if s.type == "manual")
    out += [
        f"Source: `{mapping.source_name or 'tsg.md'}` · engine: {mapping.engine} · "
        f"{len(mapping.steps)} steps ({n_cli} cli, {n_manual} manual) · "
        f"{len(mapping.commands)} commands · {len(mapping.vars)} variables · {len(mapping.todos)} TODOs",
        "",
        "## Steps",
        "",
        "| step | type | TSG section | lines | from | title |",
        "|---|---|---|---|---|---|",
    ]
    for s in mapping.steps:
        out.append(
            f"| `{s.step_id}` | {s.type} | {_cell(s.section)} | {s.line_start}-{s.line_end} | {s.source} "
            f"| {_cell(s.title)} |"
        )
    out += _table(
        "Extracted commands",
        ["line", "command", "step", "decision"],
        [f"| {c.line} | {_cell(_code(c.text))} | `{c.step_id}` | {_cell(c.verdict)} |" for c in mapping.commands],
        empty="None found.",
    )
    out += _table("Inferred variables", ["var", "written as", "lines", "default", "TODO"], _var_rows(mapping.vars))
    manual = [s for s in mapping.steps if s.type == "manual"]
    out += _table(
        "Manual steps",
        ["step", "why manual", "approval"],
        [f"| `{s.step_id}` | {_cell(s.why_manual)} | {'required' if s.approval else 'no'} |" for s in manual],
    )
    out += _table("Sections", ["section", "lines", "steps"], _section_rows(mapping))
    out += _table(
        "Code blocks",
        ["lines", "language", "decision"],
        [f"| {b.line_start}-{b.line_end} | {b.lang or 'untagged'} | {_cell(b.decision)} |" for b in mapping.blocks],
    )
    out += _table(
        "Prose instructions",
        ["line", "sentence", "where"],
        [f"| {p.line} | {_cell(p.sentence)} | {_cell(p.where)} |" for p in mapping.prose],
    )
    out += ["", "## TODOs and uncertainties", ""]
    items = [f"- [ ] TODO: {t}" for t in mapping.todos] + [f"- {u}" for u in mapping.uncertainties]
    out += items or ["None."]
    out.append("")
    return "\n".join(out)
