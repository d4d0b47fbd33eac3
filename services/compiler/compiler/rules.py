"""Stage B with deterministic rules: the TSG-IR to a runbook document and its mapping.

Read-only commands of known tools become ``cli`` steps; anything that writes, is unknown, runs
forever or needs a shell becomes a ``manual`` step (with an approval when it may change state).
Prose imperatives and checklists become manual steps with checklist evidence; unambiguous
expected-output statements become assertions on the command they follow.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from playbooks_contracts.runbook import LITERAL_BRACES, TEMPLATE_REF

from . import ontology
from .ir import Code, Section, Table, Text, TsgIR
from .mapping import BlockMap, CommandMap, Mapping, ProseMap, StepMap, VarMap
from .shell import (
    OUTPUT_LANGS,
    POWERSHELL_LANGS,
    ROOT_SHELL,
    SHELL_LANGS,
    Assignment,
    Command,
    Placeholder,
    SessionState,
    looks_like_commands,
    parse_command,
    split_block,
)

SQL_LANGS = {"sql", "psql", "postgresql", "postgres", "pgsql", "plpgsql"}
_RUN_PHRASE = re.compile(r"\b(run|execute|use|using|type|enter|with|try|command)\s*:?\s*$", re.I)
# Only these introduce a one-word command ("run `uptime`"); "with `watch`" names a tool
_RUN_ONE_WORD = re.compile(r"\b(run|execute|type|enter)\s*:?\s*$", re.I)
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")
_IMPERATIVE = re.compile(
    r"^(?:(?:then|next|also|finally|first|now|afterwards)[,:]?\s+)?(?:if\b[^,]{1,120},\s*)?"
    r"(check|verify|confirm|ensure|make sure|escalate|notify|page|contact|inform|open|look at|look for|review|"
    r"inspect|compare|validate|monitor|wait|watch|record|post|file|create an? (?:ticket|incident)|raise|ask|call|"
    r"tell|update the (?:incident|ticket|status)|document|capture|take a screenshot|go to|navigate to|log in|"
    r"sign in|acknowledge|announce|communicate|declare|engage|reach out|follow up|double-check)\b",
    re.I,
)
_LEAD_IN = re.compile(
    r"^(?:(?:then|next|also|finally|first|second|now|afterwards|otherwise|lastly|instead|alternatively|again)"
    r"[,:]?\s+)?(?:(?:if|when|once|after|before|where|in case|to|for|while|until|as soon as)\b[^,]{1,160},\s*)?",
    re.I,
)
# A guide asking for a confirmation before going on: the state-changing steps after it get a checkpoint.
_CONFIRM_FIRST = re.compile(
    r"\b(?:confirm\s+with|before\s+(?:proceeding|continuing|you\s+(?:proceed|continue|go\s+on))\s*,?\s*"
    r"(?:verify|confirm|check|ensure|make\s+sure)|get\s+(?:an?\s+|the\s+)?(?:approval|sign-?off|go-ahead)|"
    r"obtain\s+(?:an?\s+|the\s+)?(?:approval|sign-?off)|make\s+sure\b[^.!?]{0,160}?\bbefore\b|"
    r"(?:do\s+not|don't)\s+(?:proceed|continue)\s+(?:until|without))",
    re.I,
)
_NOT_IMPERATIVE = re.compile(r"^(?:note\s+(?:that|:)|see\b|read\s+more|use\s+(?:case|this\b))", re.I)


def imperative_sentences(text: str) -> list[str]:
    """The sentences of a prose text that tell the reader to do something: they start with a verb of
    the ontology's imperative list (after "Then," or "If ..., "). Questions and sentences that only
    introduce what follows (ending in ':') are left out."""
    verbs = ontology.imperative_verbs()
    out = []
    for sentence in (s.strip() for s in _SENTENCES.split(text)):
        if not sentence or sentence.endswith((":", "?")):
            continue
        rest = sentence[_LEAD_IN.match(sentence).end() :]  # type: ignore[union-attr]
        word = re.match(r"[A-Za-z][\w-]*", rest)
        if word is None or word.group(0).lower() not in verbs or _NOT_IMPERATIVE.match(rest):
            continue
        if rest == sentence and not rest[0].isupper():
            continue  # a fragment in the middle of a sentence, not its start
        out.append(sentence)
    return out


_VALUE = r"(?:`([^`]+)`|\"([^\"]+)\"|'([^']+)'|([A-Za-z][\w./:-]*))"
_SHOULD = re.compile(
    r"\bshould\s+(not\s+)?(?:only\s+)?(?:show|say|read|return|print|display|report|list|contain|include|be|output|"
    r"mention|have)\s+(?:a\s+|an\s+|the\s+)?(?:status\s+(?:of\s+)?|value\s+)?" + _VALUE
)
_NO = re.compile(r"(?:^|[\s(])(?:[Nn]o|[Ww]ithout)\s+(?:`([^`]+)`|([A-Z][a-z]+[A-Z][A-Za-z]+|[A-Z]{3,}[A-Za-z_]*))")
_EXPECT = re.compile(
    r"\b(?:you should see|expected output(?: is)?|expect(?: to see)?)\s*:?\s*(?:`([^`]+)`|\"([^\"]+)\")", re.I
)
_QUALIFIED = re.compile(r"^\s*(?:set to|is|are|=|equal|equals|with (?:the )?value)\b", re.I)
_OR_MORE = re.compile(r"^\s*(?:,|or|and|nor)\s*`([^`]+)`")
_EXIT = re.compile(r"\bexit (?:code|status)\s+(?:should be|is|of|must be|=)\s*(\d+)", re.I)


def _plain(title: str) -> str:
    """A heading without its numbering ("2. Inspect" -> "Inspect")."""
    return re.sub(r"^(?:step\s+)?\d+(?:\.\d+)*[.):]?\s+", "", title, flags=re.I).strip()


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", _plain(text).lower()).strip("-")[:limit].strip("-")
    return s or "step"


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unbrace(text: str, names: set[str]) -> str:
    """Guide text made literal for the runbook: every ``{{`` is written as the literal-brace escape,
    except where it starts a template of a declared var. Applied once to each piece of the guide's
    text (a second pass would take the guide's own escape, if it writes one, for the compiler's)."""

    def fix(m: re.Match[str]) -> str:
        ref = TEMPLATE_REF.match(m.string, m.start())
        return m.group(0) if ref is not None and ref.group(1) in names else LITERAL_BRACES

    return re.sub(r"\{\{", fix, text)


@dataclass
class Expectation:
    kind: str  # contains | not_contains | exit_code
    value: str
    sentence: str


def expectations(sentence: str) -> tuple[list[Expectation], bool]:
    """Unambiguous expected-output checks in a sentence, and whether it states an expectation at all."""
    found: list[Expectation] = []
    stated = False
    for m in _SHOULD.finditer(sentence):
        stated = True
        negated = bool(m.group(1))
        quoted = next((g for g in m.groups()[1:4] if g), None)
        word = m.group(5)
        word = word.rstrip(".:,;") if word else None
        value = quoted or (word if word and re.match(r"^[A-Z][a-z]*[A-Z]?\w*$", word) and len(word) > 2 else None)
        if value:
            found.append(Expectation("not_contains" if negated else "contains", value, sentence))
    for m in _NO.finditer(sentence):
        stated = True
        values = [m.group(1) or m.group(2)]
        rest = sentence[m.end() :]
        more = _OR_MORE.match(rest)
        while more:
            values.append(more.group(1))
            rest = rest[more.end() :]
            more = _OR_MORE.match(rest)
        if _QUALIFIED.match(rest):
            continue  # "no `X` set to True": X itself may well appear
        found += [Expectation("not_contains", v, sentence) for v in values]
    for m in _EXPECT.finditer(sentence):
        stated = True
        found.append(Expectation("contains", m.group(1) or m.group(2), sentence))
    for m in _EXIT.finditer(sentence):
        stated = True
        found.append(Expectation("exit_code", m.group(1), sentence))
    return found, stated


@dataclass
class _Builder:
    ir: TsgIR
    mapping: Mapping
    steps: list[dict[str, Any]] = field(default_factory=list)
    used_ids: set[str] = field(default_factory=set)
    vars: dict[str, VarMap] = field(default_factory=dict)
    assigned: dict[str, Assignment] = field(default_factory=dict)

    # ids, vars -------------------------------------------------------------------------
    def new_id(self, section: Section) -> str:
        base = slug(section.title or self.ir.title or "step")
        n = 1
        while f"{base}-{n}" in self.used_ids:
            n += 1
        step_id = f"{base}-{n}"
        self.used_ids.add(step_id)
        return step_id

    def declare(self, placeholders: list[Placeholder]) -> None:
        for ph in placeholders:
            v = self.vars.get(ph.name)
            if v is None:
                self.vars[ph.name] = VarMap(ph.name, [ph.raw], [ph.line], "")
            else:
                if ph.raw not in v.written:
                    v.written.append(ph.raw)
                if ph.line not in v.lines:
                    v.lines.append(ph.line)

    def assign(self, a: Assignment) -> None:
        self.assigned.setdefault(a.name, a)

    # steps -----------------------------------------------------------------------------
    def add(self, step: dict[str, Any], smap: StepMap) -> dict[str, Any]:
        self.steps.append(step)
        self.mapping.steps.append(smap)
        return step

    def command_step(self, cmd: Command, section: Section, lead: str, source: str) -> dict[str, Any]:
        self.declare(cmd.placeholders)
        step_id = self.new_id(section)
        title = _short(cmd.comment or lead or f"{_plain(section.title)}: {_short(cmd.text, 60)}".lstrip(": "), 100)
        template = _unbrace(cmd.template_text(), set(self.vars))
        if cmd.argv is not None and cmd.argv[0] in ("cd", "pushd", "popd"):
            # a shell builtin: it only says where the next commands of the guide run
            why, approval = "a shell builtin: it sets the directory the next commands run in", False
        elif cmd.argv is not None:
            verdict = ontology.classify(cmd.argv)
            refused = ontology.policy_refusals(cmd.argv) if verdict.automatable else []
            if verdict.automatable and not refused:
                step: dict[str, Any] = {"id": step_id, "type": "cli", "title": title, "with": {"argv": cmd.argv}}
                self.mapping.commands.append(CommandMap(cmd.line_start, cmd.text, step_id, f"cli: {verdict.reason}"))
                return self.add(
                    step,
                    StepMap(
                        step_id,
                        "cli",
                        title,
                        " > ".join(section.path),
                        cmd.line_start,
                        cmd.line_end,
                        source,
                        [cmd.text],
                    ),
                )
            why = refused[0] if refused else verdict.reason
            approval = verdict.kind != "read" or bool(refused)
            if verdict.kind == "unknown":
                why += "; unknown commands may change state"
        else:
            why = f"needs a shell ({cmd.shell}); runbooks never run a shell"
            approval = self._segments_may_write(template)
        instructions = (
            f"Manual because {why}. "
            + ("After approval, run" if approval else "Run")
            + " this yourself and paste the output as evidence:\n\n```\n"
            + template
            + "\n```"
        )
        self.mapping.commands.append(CommandMap(cmd.line_start, cmd.text, step_id, _decision(why, approval)))
        return self.add_manual(step_id, title, instructions, why, approval, cmd, section, source, [cmd.text])

    def session_step(self, cmd: Command, section: Section, lead: str, source: str) -> dict[str, Any]:
        """One manual step for a session: how to open it and every line typed in it, in order."""
        typed = [parse_command(t, line, line, origin="session") for line, t in cmd.session]
        for t in typed:
            self.declare(t.placeholders)
        raw = cmd.session_of
        if not raw:
            self.declare(cmd.placeholders)
            raw = cmd.template_text()
        names = set(self.vars)
        opener = _unbrace(raw, names)
        may_write = [t.text for t in typed if _line_may_write(t.template_text())]
        opener_kind = "read" if cmd.session_of else _opener_kind(cmd)
        approval = bool(may_write) or opener_kind != "read"
        step_id = self.new_id(section)
        short = _unbrace(_short(raw, 60), names)
        title = _short(
            cmd.comment
            or lead
            or ("As root on the node" if cmd.session_of == ROOT_SHELL else f"In the session opened by {short}"),
            100,
        )
        why = (
            "typed as root on a node or host (the guide's `#` prompt); runbooks never run there"
            if cmd.session_of == ROOT_SHELL
            else f"typed in an interactive session ({short}); runbooks never type into a session"
        )
        if may_write:
            why += f"; `{_unbrace(_short(may_write[0], 60), names)}` may change state"
        body = _unbrace("\n".join(t.template_text() for t in typed), names) or "(nothing typed in it here)"
        if cmd.session_of == ROOT_SHELL:
            where = f"In {ROOT_SHELL}, "
        elif cmd.session_of:
            where = f"In the session opened by `{opener}` (an earlier step), "
        else:
            where = f"Open the session:\n\n```\n{opener}\n```\n\nIn the session opened by `{short}`, "
        instructions = f"Manual because {why}. " + where
        instructions += ("after approval, run" if approval else "run") + f":\n\n```\n{body}\n```"
        decision = _decision(why, approval)
        if not cmd.session_of:
            self.mapping.commands.append(CommandMap(cmd.line_start, cmd.text, step_id, decision))
        for (line, text), _t in zip(cmd.session, typed, strict=True):
            self.mapping.commands.append(CommandMap(line, text, step_id, f"{decision} (in the session)"))
        texts = ([] if cmd.session_of else [cmd.text]) + [t for _, t in cmd.session]
        return self.add_manual(step_id, title, instructions, why, approval, cmd, section, source, texts)

    def add_manual(
        self,
        step_id: str,
        title: str,
        instructions: str,
        why: str,
        approval: bool,
        cmd: Command,
        section: Section,
        source: str,
        texts: list[str],
    ) -> dict[str, Any]:
        """A manual step that asks for the output as evidence (and an approval first when it may write)."""
        step: dict[str, Any] = {
            "id": step_id,
            "type": "manual",
            "title": title,
            "instructions": instructions,
            "required_evidence": [{"kind": "text", "name": "output"}],
        }
        if approval:
            step["approvals"] = {"min": 1}
        where = " > ".join(section.path)
        return self.add(
            step,
            StepMap(step_id, "manual", title, where, cmd.line_start, cmd.line_end, source, texts, why, approval),
        )

    @staticmethod
    def _segments_may_write(text: str) -> bool:
        """True unless every simple command in a shell line is a read of a known tool."""
        for segment in re.split(r"\|\|?|&&?|;|\n|\$\(|`|\(|\)", text):
            words = segment.strip()
            if not words:
                continue
            try:
                argv = shlex.split(words)
            except ValueError:
                return True
            argv = [a for a in argv if not re.match(r"^\d*[<>]", a)]
            if not argv:
                continue
            if argv[0] in ("for", "while", "do", "done", "if", "then", "fi", "else", "in", "until", "xargs"):
                return True
            if re.match(r"^[A-Za-z_]\w*=", argv[0]) or argv[0] in ("cd", "pushd", "popd"):
                continue
            if ontology.classify(argv).kind != "read":
                return True
        return False

    def checklist_step(
        self, section: Section, items: list[str], lines: tuple[int, int], source: str, why: str, title: str = ""
    ) -> dict[str, Any]:
        names = set(self.vars)
        step_id = self.new_id(section)
        title = _short(title or section.title or items[0], 100)
        items = [_unbrace(" ".join(i.split()), names) for i in items]
        step = {
            "id": step_id,
            "type": "manual",
            "title": title,
            "instructions": "Work through each item and tick it when done:\n"
            + "\n".join(f"- {item}" for item in items),
            "required_evidence": [{"kind": "checklist", "name": "checklist", "items": items}],
        }
        return self.add(
            step, StepMap(step_id, "manual", title, " > ".join(section.path), lines[0], lines[1], source, [], why)
        )


_SQL_START = re.compile(
    r"^\s*(select|show|explain|table|values|insert|update|delete|alter|drop|create|truncate|"
    r"grant|revoke|vacuum|analyze|reindex|cluster|begin|commit|rollback|set|reset|copy|"
    r"checkpoint|lock|\\\w+)\b",
    re.I,
)


def _line_may_write(text: str) -> bool:
    """Whether one line typed in a session may change state (SQL judged as SQL)."""
    if text.strip() in ("exit", "logout", "\\q", "quit", "exit;"):
        return False  # leaving the session
    if _SQL_START.match(text):
        return ontology.classify_sql(text)[0] != "read"
    return _Builder._segments_may_write(text)


def _opener_kind(cmd: Command) -> str:
    if cmd.argv is None:
        return "write" if _Builder._segments_may_write(cmd.template_text()) else "read"
    verdict = ontology.classify(cmd.argv)
    return "read" if verdict.kind == "read" else verdict.kind


_HEALTHY = re.compile(
    r"\b(healthy|working|expected output|should (?:look|see|show|return|print)|succe(?:ss|eded|ssful)|normal|"
    r"all (?:members|nodes|pods) are)\b",
    re.I,
)
_UNHEALTHY = re.compile(
    r"\b(broken|not working|fail(?:s|ed|ing)?|unhealthy|error|problem|bad|degraded|lagging)\b", re.I
)
# Status words a healthy example may show, and their unhealthy counterparts.
_GOOD_WORDS = [
    "Running",
    "running",
    "Ready",
    "Bound",
    "Succeeded",
    "Completed",
    "Available",
    "active (running)",
    "healthy",
]
_BAD_WORDS = [
    "CrashLoopBackOff",
    "NotReady",
    "Error",
    "Failed",
    "Pending",
    "Evicted",
    "OOMKilled",
    "unhealthy",
    "start failed",
    "stopped",
    "unknown",
]


def _propose_assertions(step: dict[str, Any], output: str, healthy: bool, guide: str) -> list[str]:
    """Checks read off an example output the guide shows as healthy: the status words it shows
    (contains) and the unhealthy ones it does not, where the guide names them elsewhere
    (not_contains). Added to a cli step; to a manual step as checklist items."""
    if not healthy:
        return []
    said = [w for w in _GOOD_WORDS if re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", output)]
    absent = [
        w for w in _BAD_WORDS if w not in output and re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", guide)
    ]
    checks = [{"contains": w} for w in said[:2]] + [{"not_contains": w} for w in absent[:3]]
    if not said:
        return []
    if step["type"] == "cli":
        for check in checks:
            if check not in step.setdefault("assertions", []):
                step["assertions"].append(check)
    else:
        items = [
            f"the output {'contains' if 'contains' in c else 'does not contain'} `{next(iter(c.values()))}`"
            for c in checks
        ]
        step["required_evidence"].append({"kind": "checklist", "name": "expected_output", "items": items})
    return [f"{next(iter(c))}: {next(iter(c.values()))!r}" for c in checks]


def _sql_step(b: _Builder, code: Code, section: Section, lead: str) -> None:
    kind, reason = ontology.classify_sql(code.content)
    cmd = parse_command(code.content.strip(), code.line_start, code.line_end, origin="sql")
    cmd.argv = None
    b.declare(cmd.placeholders)
    step_id = b.new_id(section)
    title = _short(lead or section.title or "Run the SQL", 100)
    approval = kind != "read"
    why = "SQL without the command and connection to run it" + (f"; {reason}" if approval else "")
    step: dict[str, Any] = {
        "id": step_id,
        "type": "manual",
        "title": title,
        "instructions": f"Manual because {why}. "
        + ("After approval, run" if approval else "Run")
        + " this SQL against the database the guide names and paste the result:\n\n```sql\n"
        + _unbrace(cmd.template_text(), set(b.vars))
        + "\n```",
        "required_evidence": [{"kind": "text", "name": "output"}],
    }
    if approval:
        step["approvals"] = {"min": 1}
    b.mapping.commands.append(
        CommandMap(code.line_start, code.content.strip(), step_id, f"manual{' + approval' if approval else ''}: {why}")
    )
    b.add(
        step,
        StepMap(
            step_id,
            "manual",
            title,
            " > ".join(section.path),
            code.line_start,
            code.line_end,
            "sql block",
            [code.content.strip()],
            why,
            approval,
        ),
    )


def _inline_commands(text: Text) -> list[Command]:
    out = []
    for ic in text.codes:
        code = ic.code.strip()
        words = code.split()
        if not words:
            continue
        known = ontology.is_known_tool(words[0])
        alone = not ic.before.strip() and text.text.strip() == f"`{ic.code}`"
        after = text.text.split(f"`{ic.code}`", 1)[-1]
        if re.match(r"\s*(commands?|tool|container|pod|binary|utility|cli|plugin|process|service)\b", after, re.I):
            continue  # "to run `etcdctl` commands": the tool named, not a command to run
        one_word_ok = len(words) >= 2 or _RUN_ONE_WORD.search(ic.before) is not None
        if (known and alone) or (_RUN_PHRASE.search(ic.before) and one_word_ok and (known or len(words) >= 2)):
            out.append(parse_command(code, text.line_start, text.line_end, origin="inline"))
    return out


def _target(sentence: str, group: list[tuple[dict[str, Any], Command]]) -> dict[str, Any] | None:
    """The step an expected-output sentence speaks about: the only command before it, or the one
    whose words the sentence names; None when that is ambiguous."""
    if not group:
        return None
    if len(group) == 1 or re.search(r"\b(last|second) command\b", sentence, re.I):
        return group[-1][0]
    said = {w.lower() for w in re.findall(r"[A-Za-z][\w-]{2,}", sentence)}
    scores = []
    for step, cmd in group:
        words = {w.lower() for w in re.findall(r"[A-Za-z][\w-]{2,}", cmd.text.split("|")[0]) if not w.startswith("-")}
        scores.append((len(words & said), step))
    best = max(score for score, _ in scores)
    winners = [step for score, step in scores if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _lead(text: str) -> str:
    return text.rstrip().rstrip(":").strip()


Step = dict[str, Any]


class _SectionReader:
    """One section's elements turned into steps. What a section carries from one element to the next:
    the lead-in sentence, the steps of the last code block or paragraph, prose waiting to become one
    manual step, open checklists, a shell session left open and whether the next output is healthy."""

    def __init__(self, b: _Builder, section: Section, summary: Text | None, ir_text: str) -> None:
        self.b, self.mapping, self.section, self.summary, self.ir_text = b, b.mapping, section, summary, ir_text
        self.lead = ""
        self.last_command: Step | None = None
        self.group: list[tuple[Step, Command]] = []  # the steps of the last code block or paragraph
        self.pending: list[tuple[str, int, int]] = []  # prose instructions waiting to become one manual step
        self.checklists: dict[int, list[Text]] = {}
        self.session = SessionState()  # a session a block leaves open, for the next blocks of this section
        self.healthy = False  # the prose just before says the next example output is what healthy looks like

    def read(self) -> None:
        section = self.section
        self.mapping.sections.append((" > ".join(section.path), section.line_start, section.line_end))
        for el in section.elements:
            if isinstance(el, Code):
                self.code(el)
            elif isinstance(el, Table):
                self.table(el)
            elif isinstance(el, Text):
                self.text(el)
        self.flush()
        self.flush_checklists()

    def flush(self) -> None:
        pending = self.pending
        if pending:
            step = self.b.checklist_step(
                self.section,
                [p[0] for p in pending],
                (pending[0][1], pending[-1][2]),
                "prose",
                "prose instruction: a person does it and ticks it off",
                title=pending[0][0],
            )
            step_id = step["id"]
            self.mapping.prose += [ProseMap(line, text, f"`{step_id}` (checklist item)") for text, line, _ in pending]
            pending.clear()

    def flush_checklists(self) -> None:
        for items in self.checklists.values():
            self.b.checklist_step(
                self.section,
                [t.text for t in items],
                (items[0].line_start, items[-1].line_end),
                "checklist",
                "checklist in the guide: a person ticks each item",
            )
        self.checklists.clear()

    # -- code blocks ---------------------------------------------------------------------------------

    def code(self, el: Code) -> None:
        b, mapping, section = self.b, self.mapping, self.section
        self.flush()
        lang = el.lang
        if lang in SQL_LANGS:
            mapping.blocks.append(BlockMap(el.line_start, el.line_end, lang, "used: SQL, one manual step"))
            _sql_step(b, el, section, self.lead)
            self.last_command = b.steps[-1]
            self.group = [(self.last_command, Command(el.content, el.line_start, el.line_end))]
            return
        is_shell = lang in SHELL_LANGS or lang in POWERSHELL_LANGS
        if lang in OUTPUT_LANGS or (not is_shell and lang) or (not lang and not looks_like_commands(el.content)):
            self.reference_block(el)
            return
        commands, assignments = split_block(el.content, el.line_start, lang=lang, session=self.session)
        for a in assignments:
            b.assign(a)
        first_step = len(b.steps)
        if commands:
            self.group = []
        for cmd in commands:
            self.command(cmd, lang, self.lead if len(commands) == 1 else "")
        made = [s["id"] for s in b.steps[first_step:]]
        mapping.blocks.append(
            BlockMap(
                el.line_start,
                el.line_end,
                lang,
                f"used by {', '.join(f'`{i}`' for i in made)}"
                if made
                else "dropped: only assignments or comments (values kept as variable defaults)",
            )
        )
        self.lead = ""

    def reference_block(self, el: Code) -> None:
        """A block that is not commands: the example output of the command before it, or kept as is."""
        mapping, lang, last_command = self.mapping, el.lang, self.last_command
        if last_command is not None and (lang in OUTPUT_LANGS or not lang):
            proposed = _propose_assertions(last_command, el.content, self.healthy, self.ir_text)
            decision = f"kept as reference: example output of `{last_command['id']}`" + (
                f"; shown as healthy, so proposed {', '.join(proposed)} (review them)" if proposed else ""
            )
            mapping.blocks.append(BlockMap(el.line_start, el.line_end, lang, decision))
            self.healthy = False
            mapping.uncertainties.append(
                f"lines {el.line_start}-{el.line_end}: example output after `{last_command['id']}` "
                + (
                    f"shown as healthy: proposed {', '.join(proposed)}"
                    if proposed
                    else "kept as reference, not turned into assertions"
                )
            )
        else:
            mapping.blocks.append(
                BlockMap(el.line_start, el.line_end, lang, "kept as reference: not commands (no known tool)")
            )
            mapping.uncertainties.append(
                f"lines {el.line_start}-{el.line_end}: {lang or 'untagged'} block in "
                f"'{self.section.title}' not interpreted (not commands)"
            )

    def command(self, cmd: Command, lang: str, lead: str) -> None:
        b, section = self.b, self.section
        if lang in POWERSHELL_LANGS or ontology.is_powershell(cmd.text):
            cmd.shell = cmd.shell or "PowerShell cmdlet: needs a PowerShell session"
            cmd.argv = None
        if cmd.session or cmd.session_of:
            self.last_command = b.session_step(cmd, section, lead, "session")
            self.group.append((self.last_command, cmd))
            return
        self.last_command = b.command_step(cmd, section, lead, "code block")
        self.group.append((self.last_command, cmd))
        if cmd.output:
            proposed = _propose_assertions(self.last_command, "\n".join(cmd.output), self.healthy, self.ir_text)
            self.mapping.uncertainties.append(
                f"line {cmd.line_start}: example output under `{_short(cmd.text, 60)}` "
                + (
                    f"shown as healthy: proposed {', '.join(proposed)}"
                    if proposed
                    else "kept as reference, not turned into assertions"
                )
            )

    # -- tables ----------------------------------------------------------------------------------------

    def table(self, el: Table) -> None:
        self.flush()
        found = 0
        for row in el.rows:
            for cell in row:
                for code in re.findall(r"`([^`]+)`", cell):
                    words = code.split()
                    if words and ontology.is_known_tool(words[0]) and len(words) >= 2:
                        cmd = parse_command(code, el.line_start, el.line_end, origin="inline")
                        self.last_command = self.b.command_step(cmd, self.section, _short(row[0], 80), "table")
                        self.group = [(self.last_command, cmd)]
                        found += 1
        if not found:
            self.mapping.uncertainties.append(
                f"lines {el.line_start}-{el.line_end}: table ({len(el.rows)} rows) kept as reference"
            )

    # -- prose -----------------------------------------------------------------------------------------

    def text(self, el: Text) -> None:
        mapping, section = self.mapping, self.section
        if el.checked is not None:
            self.flush()
            self.checklists.setdefault(el.list_id or 0, []).append(el)
            return
        self.flush_checklists()
        opening = el is self.summary and not any(
            isinstance(e, Code | Table) for e in section.elements[: section.elements.index(el)]
        )
        if opening:
            # the guide's opening summary (meta.description): the steps after it carry what it says
            for sentence in imperative_sentences(el.text):
                mapping.prose.append(ProseMap(el.line_start, sentence, "meta.description and a TODO"))
                mapping.todos.append(f'the summary says "{_short(sentence, 120)}": check the steps cover it')
        if _HEALTHY.search(el.text) and not _UNHEALTHY.search(el.text):
            self.healthy = True
        elif _UNHEALTHY.search(el.text):
            self.healthy = False
        inline = _inline_commands(el)
        if inline:
            self.flush()
            self.group = []
            for cmd in inline:
                self.last_command = self.b.command_step(cmd, section, "", "inline command")
                self.group.append((self.last_command, cmd))
        sentences = [s.strip() for s in _SENTENCES.split(el.text) if s.strip()]
        imperatives = set(imperative_sentences(el.text))
        for sentence in sentences:
            self.sentence(el, sentence, inline, imperatives, opening)
        if (not inline and el.text.rstrip().endswith(":")) or (not inline and el.kind == "item"):
            self.lead = _lead(el.text)

    def sentence(self, el: Text, sentence: str, inline: list[Command], imperatives: set[str], opening: bool) -> None:
        found, stated = expectations(sentence)
        if stated:
            self.expectation(el, sentence, found)
            return
        said = [c.code for c in el.codes if f"`{c.code}`" in sentence]
        carried = inline and said and all(any(c.text == code.strip() for c in inline) for code in said)
        if carried:
            if sentence in imperatives:
                ids = ", ".join(f"`{g[0]['id']}`" for g in self.group)
                self.mapping.prose.append(ProseMap(el.line_start, sentence, f"{ids} (its inline command)"))
            return  # the sentence only says to run its inline command, which is a step
        if not opening and (
            sentence in imperatives
            or (not inline and not el.text.rstrip().endswith(":") and _IMPERATIVE.match(sentence))
        ):
            self.pending.append((sentence, el.line_start, el.line_end))

    def expectation(self, el: Text, sentence: str, found: list[Expectation]) -> None:
        """An expected-output sentence: assertions on the command it speaks about, an item to confirm on
        a manual step, or (ambiguous) a manual check of its own."""
        mapping, group = self.mapping, self.group
        target = _target(sentence, group)
        if found and target is not None and target["type"] == "cli":
            for exp in found:
                check: dict[str, Any] = (
                    {"exit_code": int(exp.value)} if exp.kind == "exit_code" else {exp.kind: exp.value}
                )
                if check not in target.setdefault("assertions", []):
                    target["assertions"].append(check)
            smap = next(s for s in mapping.steps if s.step_id == target["id"])
            smap.line_end = max(smap.line_end, el.line_end)
            return
        if found and target is not None and target["type"] == "manual":
            ev = target["required_evidence"]
            confirm = next((e for e in ev if e["kind"] == "checklist"), None)
            items = [f"the output: {_short(sentence, 160)}"]
            if confirm is None:
                ev.append({"kind": "checklist", "name": "expected_output", "items": items})
            else:
                confirm["items"].extend(items)
            return
        mapping.uncertainties.append(
            f'line {el.line_start}: expectation "{_short(sentence, 100)}" is ambiguous '
            + (
                "(no exact value to check)"
                if target is not None
                else "(several commands before it)"
                if group
                else "(no command before it)"
            )
            + "; kept as a manual check"
        )
        self.pending.append((f"Confirm: {sentence}", el.line_start, el.line_end))


def _summary_paragraph(ir: TsgIR) -> Text | None:
    """The paragraph meta.description is taken from (see ir.extract)."""
    return next(
        (
            e
            for sec in ir.sections
            if sec.level <= 1
            for e in sec.elements
            if isinstance(e, Text) and e.kind == "paragraph" and e.text == ir.description
        ),
        None,
    )


def _set_var_defaults(b: _Builder) -> None:
    """A value the guide assigns becomes the variable's default; anything else is a TODO."""
    for var in b.vars.values():
        assigned = b.assigned.get(var.name)
        if assigned is not None:
            var.default = assigned.value
            var.lines.insert(0, assigned.line)
        else:
            var.todo = f"set `{var.name}` (written {', '.join(var.written)}); no value in the guide"
            b.mapping.todos.append(var.todo)


def _follow_by_hand(ir: TsgIR, b: _Builder) -> None:
    """The one step of a guide where nothing was recognised."""
    section = ir.sections[0] if ir.sections else Section(0, 0, ir.title or "guide", 1, ir.lines, [])
    b.checklist_step(
        section,
        ["Read the guide and follow it by hand"],
        (1, ir.lines),
        "prose",
        "no command or instruction was recognised",
        title="Follow the guide by hand",
    )
    b.mapping.todos.append("no command or instruction was recognised: the guide needs a rewrite or review")


def _governance(steps: list[Step]) -> dict[str, Any]:
    allowed = sorted({s["with"]["argv"][0] for s in steps if s["type"] == "cli"})
    defaults = ontology.governance_defaults()
    return {
        "allowed_commands": allowed,
        "deny_commands": [c for c in ontology.deny_commands() if c not in allowed],
        "deny_env_vars": list(defaults["deny_env_vars"]),
        "redact": [dict(r) for r in defaults["redact"]],
        "evidence": dict(defaults["evidence"]),
        "default_timeout": defaults["default_timeout"],
    }


def compile_ir(ir: TsgIR, *, name: str | None = None, source_name: str = "") -> tuple[dict[str, Any], Mapping]:
    """The runbook document (plain data, in YAML order) and its mapping."""
    mapping = Mapping(source_name=source_name)
    b = _Builder(ir, mapping)
    summary = _summary_paragraph(ir)
    ir_text = "\n".join(
        e.content if isinstance(e, Code) else getattr(e, "text", "") for s in ir.sections for e in s.elements
    )
    for section in ir.sections:
        _SectionReader(b, section, summary, ir_text).read()
    _set_var_defaults(b)
    if not b.steps:
        _follow_by_hand(ir, b)
    title = name or ir.title or (source_name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if source_name else "") or "Untitled"
    meta: dict[str, Any] = {"name": _short(title, 200), "description": _short(ir.description, 500)}
    if b.vars:
        meta["vars"] = {v.name: v.default for v in b.vars.values()}
    meta["governance"] = _governance(b.steps)
    mapping.vars = list(b.vars.values())
    for smap, step in zip(mapping.steps, b.steps, strict=True):
        if step["type"] == "manual":
            smap.approval = "approvals" in step
    _mark_checkpoints(ir, b.steps, mapping)
    return {"apiVersion": "runbook/v0", "meta": meta, "steps": b.steps}, mapping


def _mark_checkpoints(ir: TsgIR, steps: list[dict[str, Any]], mapping: Mapping) -> None:
    """``checkpoint: true`` on the steps that may change state (manual steps with an approval) placed
    after a sentence that asks to confirm first, in the same section: the run then pauses before them
    and shows the rest of the plan until someone other than the requester confirms."""
    for section in ir.sections:
        asks = [
            (e.line_start, m.group(0))
            for e in section.elements
            if isinstance(e, Text)
            for m in [_CONFIRM_FIRST.search(e.text)]
            if m is not None
        ]
        if not asks:
            continue
        first_line, phrase = asks[0]
        for smap, step in zip(mapping.steps, steps, strict=True):
            inside = section.line_start <= smap.line_start <= section.line_end
            if inside and smap.line_start > first_line and step["type"] == "manual" and "approvals" in step:
                step["checkpoint"] = True
                mapping.uncertainties.append(
                    f"line {smap.line_start}: `{step['id']}` may change state and the guide says "
                    f'"{_short(phrase, 60)}" (line {first_line}): marked checkpoint: true (the run pauses there)'
                )


def _decision(why: str, approval: bool) -> str:
    """How mapping.md states the choice for a command made a manual step."""
    return f"manual{' + approval' if approval else ''}: {why}"
