"""Goals: from a sentence to a governed run, in one guided exchange.

A goal ranks playbooks for its words (the search pipeline), takes the best one that can run (a reviewed
tenant playbook carrying a runbook: runbook-runtime starts published runbooks by id and version), and
reads the runbook's declared vars as its parameters. Values come from the words (``instance orders-db``,
``region=eu-west-1``, the one allowed value the text names) and the intent (environment, cloud, time),
each with its provenance; the rest are asked at once. A complete goal asks runbook-runtime for a dry-run
over ``runbook-requests.v1`` (through the outbox, in the transaction that completes it); a confirmed plan
becomes the real (or replay) run, which the worker follows by run id on ``runbook-runs.v1``.

Functions take the caller's session and never commit.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.goals import (
    ENDED_GOAL_STATUSES,
    MAX_ANSWER_CHARS,
    GoalAnswers,
    GoalCandidate,
    GoalConfirm,
    GoalCreate,
    GoalParameter,
    GoalQuestion,
    GoalRead,
)
from playbooks_contracts.messages import RunbookRequested, RunbookRunUpdated, requested_run_id
from playbooks_contracts.patterns import PatternError, compile_pattern
from playbooks_contracts.recommendation import Intent, SearchRequest
from playbooks_contracts.runbook import RunbookInvalid, VarSpec, parse_runbook
from playbooks_contracts.topics import RUNBOOK_REQUESTS
from playbooks_platform import messages
from playbooks_platform.errors import Invalid, InvalidTransition, NotFound
from playbooks_platform.outbox import add_to_outbox

from .intent import ENVIRONMENTS, STOPWORDS, TIMES, normalise
from .models import SCHEMA, goals, playbook_versions
from .search import SearchEngine

SOURCE = "recommendation-agent"
# Only reviewed versions run from a goal: a version goes approved/active through four eyes.
RUNNABLE_STATUSES = ("active", "approved")
CANDIDATES = 20  # ranked candidates looked at for a runnable one
RUNNERS_UP = 5
TYPES = ("string", "integer", "number", "boolean")
# What a run's status means for its goal.
RUN_TO_GOAL = {
    "running": "running",
    "waiting": "waiting",
    "passed": "succeeded",
    "failed": "failed",
    "rejected": "failed",
    "cancelled": "failed",
    "refused": "failed",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_NUMBER = re.compile(r"^[+-]?(?:\d{1,18}(?:\.\d{1,18})?|\.\d{1,18})$")
# Cloud regions named in the words (AWS "eu-west-1", GCP "europe-west1").
_REGION = re.compile(
    r"(?<![a-z0-9-])((?:us|eu|ap|sa|ca|me|af|il|mx|europe|asia|australia|northamerica|southamerica|africa)"
    r"(?:-gov)?-(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-?\d)(?![a-z0-9-])"
)
_VALUE = r"[\"']?(?P<v>[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199})[\"']?"
_ENV_NAMES = {"environment", "env", "stage", "environment_name", "env_name", "tier"}
_CLOUD_NAMES = {"cloud", "cloud_provider", "provider"}
_TIME_NAMES = {"time_context", "window", "schedule", "period", "when", "time_window"}
_ID_SUFFIXES = ("_id", "_name", "_identifier", "_ids", "_names")


# -- the parameters' schema ---------------------------------------------------------------------------


def parameter_specs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One spec per var the runbook declares, described by the playbook's parameter of the same name.

    The runbook is what runs, so its vars are the only names a goal fills (runbook-runtime refuses any
    other); the playbook's parameter adds a type, a description and validation where it has one."""
    meta = parse_runbook(document["runbook"]).meta
    described = {str(p.get("name", "")).lower(): p for p in document.get("parameters") or [] if isinstance(p, dict)}
    specs = []
    for name in meta.vars:
        var = meta.spec(name)
        param = described.get(name.lower(), {})
        validation = param.get("validation") or {}
        kind = param.get("type") if param.get("type") in TYPES else "string"
        default: Any = var.default
        if default is None and isinstance(param.get("default"), str | int | float | bool):
            default = param["default"]
        allowed = var.allowed if var.allowed is not None else validation.get("allowed_values")
        specs.append(
            {
                "name": name,
                "type": kind,
                "description": var.description or param.get("description") or f"Runbook variable {name}",
                "required": default is None,
                "allowed": list(allowed) if allowed is not None else None,
                "default": None if var.secret else default,
                "secret": var.secret,
                "flag": var.flag,
                "pattern": validation.get("pattern"),
                "min_length": validation.get("min_length"),
                "max_length": validation.get("max_length"),
                "minimum": validation.get("minimum"),
                "maximum": validation.get("maximum"),
            }
        )
    return specs


def _refuse(name: str, why: str) -> Invalid:
    return Invalid(f"parameter {name!r}: {why}", parameter=name)


def check_value(spec: dict[str, Any], value: Any) -> str | int | float | bool:
    """The value, checked against the parameter's schema and normalised; ``Invalid`` naming the parameter."""
    name, kind = spec["name"], spec["type"]
    if isinstance(value, dict | list) or value is None:
        raise _refuse(name, "must be one value (text, a number or true/false), not a list or an object")
    text = value if isinstance(value, str) else None
    out: str | int | float | bool
    if kind == "boolean":
        if isinstance(value, bool):
            out = value
        elif text is not None and text.lower() in ("true", "false"):
            out = text.lower() == "true"
        else:
            raise _refuse(name, f"must be true or false, not {str(value)[:40]!r}")
    elif kind in ("integer", "number"):
        out = _number(spec, value)
    else:
        out = _text(spec, value)
    shown = var_text(out)
    if _CONTROL.search(shown):
        raise _refuse(name, "cannot contain control characters")
    if spec.get("pattern") and isinstance(out, str):
        try:
            matched = compile_pattern(spec["pattern"]).search(out) is not None
        except PatternError:
            matched = True  # the playbook's own pattern is unusable: the runbook's rules still apply
        if not matched:
            raise _refuse(name, f"must match {spec['pattern']!r}" if not spec.get("secret") else "has the wrong form")
    # the runbook var's own rules, with the allowed values the playbook's parameter may have added
    var = VarSpec.model_construct(
        allowed=spec.get("allowed"), secret=bool(spec.get("secret")), flag=bool(spec.get("flag"))
    )
    refusal = var.refusal(shown)
    if refusal == "not_allowed":
        listed = "" if var.secret else f": {', '.join(var.allowed or [])}"
        raise _refuse(
            name,
            f"must be one of the allowed values{listed} (got {'a secret' if var.secret else repr(shown[:80])})",
        )
    if refusal == "option":
        raise _refuse(name, "cannot start with '-' (it would become an option): the runbook does not mark it a flag")
    return out


def _number(spec: dict[str, Any], value: Any) -> int | float:
    """An integer or number parameter's value, from a number or its text, within its bounds."""
    name, kind = spec["name"], spec["type"]
    text = value if isinstance(value, str) else None
    if isinstance(value, bool):
        raise _refuse(name, f"must be a {'whole ' if kind == 'integer' else ''}number, not {value}")
    if text is not None:
        if not (_INTEGER if kind == "integer" else _NUMBER).match(text):
            raise _refuse(name, f"must be a {'whole ' if kind == 'integer' else ''}number, not {text[:40]!r}")
        value = int(text) if kind == "integer" else float(text)
    if kind == "integer" and isinstance(value, float):
        if not value.is_integer():
            raise _refuse(name, f"must be a whole number, not {value}")
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _refuse(name, "must be a finite number")
    if spec.get("minimum") is not None and value < spec["minimum"]:
        raise _refuse(name, f"must be at least {spec['minimum']:g}, not {value}")
    if spec.get("maximum") is not None and value > spec["maximum"]:
        raise _refuse(name, f"must be at most {spec['maximum']:g}, not {value}")
    return value


def _text(spec: dict[str, Any], value: Any) -> str:
    """A text parameter's value (a number is taken as its text), within its lengths."""
    name = spec["name"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refuse(name, "must be text")
    out = value if isinstance(value, str) else str(value)
    if len(out) > MAX_ANSWER_CHARS:
        raise _refuse(name, f"is {len(out)} characters, over the limit of {MAX_ANSWER_CHARS}")
    if spec.get("min_length") is not None and len(out) < spec["min_length"]:
        raise _refuse(name, f"must have at least {spec['min_length']} characters")
    if spec.get("max_length") is not None and len(out) > spec["max_length"]:
        raise _refuse(name, f"must have at most {spec['max_length']} characters")
    return out


def var_text(value: Any) -> str:
    """A value as the runbook var's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- values from the words and the intent --------------------------------------------------------------


def _labels(name: str) -> list[str]:
    """How a text may name a parameter: ``instance_id`` as "instance_id", "instance id", "instance-id", "instance"."""
    low = name.lower()
    labels = [low, low.replace("_", " "), low.replace("_", "-")]
    for suffix in _ID_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            head = low[: -len(suffix)]
            labels += [head, head.replace("_", " ")]
    return list(dict.fromkeys(labels))


def _env_word(text: str, environment: str) -> str | None:
    norm = normalise(text)
    for phrase, value in sorted(ENVIRONMENTS.items(), key=lambda kv: -len(kv[0])):
        if value == environment and re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", norm):
            return phrase
    return None


def _time_word(text: str, context: str) -> str | None:
    norm = normalise(text)
    for phrase, value in sorted(TIMES.items(), key=lambda kv: -len(kv[0])):
        if value == context and re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", norm):
            return phrase
    return None


def _from_intent(spec: dict[str, Any], intent: Intent, text: str) -> tuple[Any, str] | None:
    name, allowed = spec["name"].lower(), spec.get("allowed")
    if name in _ENV_NAMES and intent.environment:
        word = _env_word(text, intent.environment) or intent.environment
        if allowed is None or intent.environment in allowed:
            return intent.environment, word
        # the org may spell it its own way ("prod"): the allowed value that means the same environment
        same = [a for a in allowed if ENVIRONMENTS.get(a.lower()) == intent.environment]
        return (same[0], word) if len(same) == 1 else None
    if name in _CLOUD_NAMES:
        clouds: list[str] = [c for c in intent.cloud_provider if c != "kubernetes"] or list(intent.cloud_provider)
        if len(clouds) == 1:
            return clouds[0], clouds[0]
    if name in _TIME_NAMES and intent.time_context:
        return intent.time_context, _time_word(text, intent.time_context) or intent.time_context
    if name in ("action", "operation") and intent.action:
        return intent.action, intent.action
    return None


def _named(spec: dict[str, Any], text: str, labels_of_others: set[str]) -> tuple[Any, str] | None:
    """``instance orders-db``, ``instance_id=orders-db``, ``region: eu-west-1``, ``3 replicas``."""
    for label in _labels(spec["name"]):
        words = r"[\s_-]+".join(re.escape(w) for w in label.replace("-", " ").split())
        after = re.compile(
            rf"(?<![A-Za-z0-9_-]){words}(?:\s*[=:]\s*|\s+(?:named|called|id|is|of|=)?\s*){_VALUE}", re.IGNORECASE
        )
        for m in after.finditer(text):
            value = m.group("v").rstrip(".,;:")
            low = value.lower()
            if low in STOPWORDS or low in labels_of_others or low == label or low in ("named", "called"):
                continue
            return value, m.group(0).strip().rstrip(".,;:")
        if spec["type"] in ("integer", "number"):
            before = re.compile(rf"(?<![\w.])(?P<v>\d+(?:\.\d+)?)\s+{words}(?![A-Za-z0-9])", re.IGNORECASE)
            number = before.search(text)
            if number:
                return number.group("v"), number.group(0)
    return None


def _allowed_word(spec: dict[str, Any], text: str) -> tuple[Any, str] | None:
    """The one allowed value the text names as a word (two or more: the text does not decide)."""
    allowed = spec.get("allowed")
    if not allowed or spec.get("secret"):
        return None
    low = text.lower()
    found = [a for a in allowed if a and re.search(rf"(?<![A-Za-z0-9_-]){re.escape(a.lower())}(?![A-Za-z0-9_-])", low)]
    return (found[0], found[0]) if len(found) == 1 else None


def _typed(spec: dict[str, Any], text: str) -> tuple[Any, str] | None:
    if "region" in spec["name"].lower():
        found = list(dict.fromkeys(_REGION.findall(text.lower())))
        if len(found) == 1:
            return found[0], found[0]
    return None


_TOKEN = re.compile(r"(?<![A-Za-z0-9._:/@-])[A-Za-z0-9][A-Za-z0-9._:/@-]*[A-Za-z0-9](?![A-Za-z0-9._:/@-])")


def _identifier(text: str, used: set[str]) -> tuple[str, str] | None:
    """The one name-like word of the text that nothing else explains ("orders-db" in "Stop RDS orders-db"):
    it holds a digit, '-' or '_', and is no region, environment, time or value already taken."""
    known = set(ENVIRONMENTS) | set(TIMES) | {u.lower() for u in used}
    tokens = [
        t
        for t in dict.fromkeys(_TOKEN.findall(text))
        if re.search(r"[0-9_-]", t)
        and t.lower() not in known
        and not _REGION.fullmatch(t.lower())
        and not re.fullmatch(r"[0-9.:-]+", t)  # numbers, dates and times are not names
    ]
    return (tokens[0], tokens[0]) if len(tokens) == 1 else None


def fill_from_words(text: str, intent: Intent, specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> {value, source, evidence} for every parameter the words or the intent decide.

    A value that breaks the parameter's schema is left out: it is asked instead."""
    filled: dict[str, dict[str, Any]] = {}
    every_label = {label for s in specs for label in _labels(s["name"])}
    for spec in specs:
        if spec.get("secret"):
            continue  # a secret is never read from a sentence that is stored and shown
        others = every_label - set(_labels(spec["name"]))
        for source, found in (
            ("words", _named(spec, text, others)),
            ("intent", _from_intent(spec, intent, text)),
            ("words", _allowed_word(spec, text)),
            ("words", _typed(spec, text)),
        ):
            if found is None:
                continue
            try:
                value = check_value(spec, found[0])
            except Invalid:
                continue
            filled[spec["name"]] = {"value": value, "source": source, "evidence": found[1][:200]}
            break
    # A name the text gives without saying what it names fills the one identifier still open (instance_id).
    open_ids = [
        s
        for s in specs
        if s["name"] not in filled
        and not s.get("secret")
        and s["type"] == "string"
        and not s.get("allowed")
        and s["name"].lower().endswith(_ID_SUFFIXES)
    ]
    if len(open_ids) == 1:
        found = _identifier(text, {str(v["value"]) for v in filled.values()})
        if found is not None:
            try:
                value = check_value(open_ids[0], found[0])
                filled[open_ids[0]["name"]] = {"value": value, "source": "words", "evidence": found[1]}
            except Invalid:
                pass
    return filled


def open_questions(specs: list[dict[str, Any]], filled: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: s[k] for k in ("name", "type", "description", "required", "allowed", "default", "secret")}
        for s in specs
        if s["name"] not in filled
    ]


def _complete(specs: list[dict[str, Any]], filled: dict[str, Any]) -> bool:
    return all(s["name"] in filled for s in specs if s["required"])


def _with_defaults(specs: list[dict[str, Any]], filled: dict[str, Any]) -> dict[str, Any]:
    out = dict(filled)
    for s in specs:
        if s["name"] not in out and s["default"] is not None:
            out[s["name"]] = {"value": s["default"], "source": "default", "evidence": None}
    return out


# -- choosing the playbook ------------------------------------------------------------------------------


def _why_not(row: Any | None, source: str) -> str | None:
    """Why a candidate cannot run from a goal, or None when it can."""
    if source != "tenant" or row is None:
        return (
            "a library playbook ships scripts, not a runbook: runbook-runtime runs your org's reviewed runbooks "
            "(compile a guide, or make the org's own copy with a runbook)"
        )
    if not isinstance(row.document.get("runbook"), dict):
        return "it has no runbook (scripts only): runbook-runtime runs runbooks"
    if row.status not in RUNNABLE_STATUSES:
        return f"its status is {row.status}: only a reviewed version (approved or active) runs from a goal"
    try:
        parse_runbook(row.document["runbook"])
    except RunbookInvalid as exc:
        return f"its runbook is not valid: {'; '.join(map(str, exc.problems))[:200]}"
    return None


async def _tenant_rows(session: AsyncSession, org_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    if not keys:
        return {}
    p = playbook_versions.c
    rows = await session.execute(
        sa.select(p.playbook_id, p.version, p.status, p.name, p.document).where(
            p.org_id == org_id, sa.tuple_(p.playbook_id, p.version).in_(keys)
        )
    )
    return {(r.playbook_id, r.version): r for r in rows}


def _candidate(result: Any, why_not: str | None) -> dict[str, Any]:
    return GoalCandidate(
        playbook_id=result.playbook_id,
        version=result.version,
        name=result.name,
        source=result.source,
        rank=result.rank,
        confidence=result.confidence,
        match=result.match,
        runnable=why_not is None,
        why_not=why_not,
    ).model_dump(mode="json")


# -- the goal's life ------------------------------------------------------------------------------------


async def create_goal(
    *, session: AsyncSession, engine: SearchEngine, org_id: str, actor: str, body: GoalCreate
) -> GoalRead:
    """Rank, choose, fill, ask; a goal complete from its words alone goes straight to planning."""
    answer = await engine.search(
        session=session, org_id=org_id, request=SearchRequest(query=body.text, limit=CANDIDATES)
    )
    results = list(answer.results)
    rows = await _tenant_rows(session, org_id, [(r.playbook_id, r.version) for r in results if r.source == "tenant"])
    # parsing the candidates' runbooks is CPU work on documents of any size: off the event loop
    verdicts = await asyncio.to_thread(
        lambda: {(r.playbook_id, r.version): _why_not(rows.get((r.playbook_id, r.version)), r.source) for r in results}
    )
    chosen = _choose(body, results, verdicts)
    goal_id = str(uuid.uuid4())
    runners_up = [_candidate(r, verdicts[(r.playbook_id, r.version)]) for r in results if r is not chosen][:RUNNERS_UP]
    values: dict[str, Any] = {
        "org_id": org_id,
        "id": goal_id,
        "text": body.text,
        "created_by": actor,
        "intent": answer.intent.model_dump(mode="json"),
        "runners_up": runners_up,
    }
    if chosen is None:
        reason = _unmatched(results, verdicts, answer.notice)
        await session.execute(sa.insert(goals).values(**values, status="unmatched", reason=reason))
        return await get_goal(session=session, org_id=org_id, goal_id=goal_id)
    row = rows[(chosen.playbook_id, chosen.version)]
    specs = await asyncio.to_thread(parameter_specs, row.document)
    filled = await asyncio.to_thread(fill_from_words, body.text, answer.intent, specs)
    values |= {
        "status": "collecting",
        "playbook": _candidate(chosen, None),
        "runbook_id": chosen.playbook_id,
        "runbook_version": chosen.version,
        "spec": specs,
        "filled": filled,
        "warnings": list(chosen.warnings),
    }
    await session.execute(sa.insert(goals).values(**values))
    if _complete(specs, filled):
        await _request_plan(session, org_id, goal_id, specs, filled, revision=0, actor=actor)
    return await get_goal(session=session, org_id=org_id, goal_id=goal_id)


def _choose(body: GoalCreate, results: list[Any], verdicts: dict[tuple[str, str], str | None]) -> Any | None:
    """The playbook the goal names (among the candidates, and runnable), else the first runnable strong match."""
    if body.playbook_id is None:
        return next((r for r in results if verdicts[(r.playbook_id, r.version)] is None and r.match == "strong"), None)
    chosen = next(
        (
            r
            for r in results
            if r.playbook_id == body.playbook_id and (body.version is None or r.version == body.version)
        ),
        None,
    )
    if chosen is None:
        raise Invalid(
            f"playbook {body.playbook_id!r} is not among the candidates for these words; "
            "choose one of the goal's candidates, or say what you want in other words",
            parameter="playbook_id",
        )
    why = verdicts[(chosen.playbook_id, chosen.version)]
    if why is not None:
        raise Invalid(f"playbook {chosen.playbook_id!r} cannot run from a goal: {why}", parameter="playbook_id")
    return chosen


def _unmatched(results: list[Any], verdicts: dict[tuple[str, str], str | None], notice: str | None) -> str:
    """Why no playbook was chosen: the closest runnable one is weak, none can run, or nothing fits."""
    closest = next((r for r in results if verdicts[(r.playbook_id, r.version)] is None), None)
    if closest is not None:
        return (
            f"no runnable playbook is a strong match for these words; the closest runnable one, "
            f"{closest.playbook_id} {closest.version}, is a weak match (create the goal with its playbook_id "
            "to take it anyway)"
        )
    if results:
        return (
            f"none of the {len(results)} candidates can run from a goal; the best, {results[0].playbook_id}: "
            f"{verdicts[(results[0].playbook_id, results[0].version)]}"
        )
    return notice or "nothing in the library or the org's playbooks fits these words"


async def _locked(session: AsyncSession, org_id: str, goal_id: str) -> Any:
    try:
        uuid.UUID(goal_id)
    except ValueError:
        raise NotFound(f"no goal {goal_id[:64]!r} in this org") from None
    row = (
        await session.execute(sa.select(goals).where(goals.c.org_id == org_id, goals.c.id == goal_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"no goal {goal_id} in this org")
    return row


def _request(
    org_id: str,
    request_id: str,
    *,
    mode: str,
    row_runbook: tuple[str, str],
    filled: dict[str, Any],
    actor: str,
    scenario: dict[str, Any] | None = None,
) -> messages.Message:
    runbook_id, version = row_runbook
    request = RunbookRequested(
        request_id=request_id,
        mode=mode,  # type: ignore[arg-type]
        runbook_id=runbook_id,
        runbook_version=version,
        scenario=scenario,
        vars={name: var_text(v["value"]) for name, v in filled.items() if v["value"] is not None},
        playbook_id=runbook_id,
        playbook_version=version,
        requested_by=actor,
    )
    return messages.new(type="runbook.requested", org_id=org_id, source=SOURCE, data=request.model_dump(mode="json"))


async def _request_plan(
    session: AsyncSession,
    org_id: str,
    goal_id: str,
    specs: list[dict[str, Any]],
    filled: dict[str, Any],
    *,
    revision: int,
    actor: str,
) -> None:
    """Complete: the dry-run request, staged in this transaction; the goal waits for its plan."""
    values = _with_defaults(specs, filled)
    row = (
        await session.execute(
            sa.select(goals.c.runbook_id, goals.c.runbook_version).where(
                goals.c.org_id == org_id, goals.c.id == goal_id
            )
        )
    ).one()
    request_id = f"goal:{goal_id}:plan:{revision}"
    envelope = _request(
        org_id,
        request_id,
        mode="dry-run",
        row_runbook=(row.runbook_id, row.runbook_version),
        filled=values,
        actor=actor,
    )
    await session.execute(
        sa.update(goals)
        .where(goals.c.org_id == org_id, goals.c.id == goal_id)
        .values(
            status="planning",
            filled=values,
            plan=None,
            plan_revision=revision,
            plan_run_id=requested_run_id(org_id, request_id),
            updated_at=sa.func.now(),
        )
    )
    await add_to_outbox(session, SCHEMA, [(RUNBOOK_REQUESTS, envelope)])


async def answer_goal(*, session: AsyncSession, org_id: str, goal_id: str, body: GoalAnswers, actor: str) -> GoalRead:
    """Check every answer first (one bad answer changes nothing), then plan once nothing required is open."""
    row = await _locked(session, org_id, goal_id)
    if row.status not in ("collecting", "planning", "planned"):
        raise InvalidTransition(
            f"goal {goal_id} is {row.status}: answers are taken until its plan is confirmed"
            if row.status not in ("unmatched",)
            else f"goal {goal_id} is unmatched: it has no playbook whose parameters could be answered"
        )
    specs = {s["name"]: s for s in row.spec}
    unknown = sorted(set(body.answers) - set(specs))
    if unknown:
        raise Invalid(
            f"unknown parameter(s) {', '.join(repr(n[:64]) for n in unknown[:10])}: the runbook declares "
            f"{', '.join(sorted(specs)) or 'none'}",
            parameter=unknown[0][:64],
        )
    filled = dict(row.filled)
    for name, value in body.answers.items():
        filled[name] = {"value": check_value(specs[name], value), "source": "answer", "evidence": actor}
    if row.status == "collecting" and not _complete(row.spec, filled):
        await session.execute(
            sa.update(goals)
            .where(goals.c.org_id == org_id, goals.c.id == goal_id)
            .values(filled=filled, updated_at=sa.func.now())
        )
    elif _complete(row.spec, filled):
        # complete now, or changed after planning: a new plan (the old one's messages no longer count)
        revision = row.plan_revision + (0 if row.status == "collecting" else 1)
        await _request_plan(session, org_id, goal_id, row.spec, filled, revision=revision, actor=actor)
    return await get_goal(session=session, org_id=org_id, goal_id=goal_id)


async def confirm_goal(*, session: AsyncSession, org_id: str, goal_id: str, body: GoalConfirm, actor: str) -> GoalRead:
    """The confirmed plan becomes the run: the same runbook version and values, mode real or replay."""
    row = await _locked(session, org_id, goal_id)
    if row.status != "planned":
        hint = {
            "collecting": "answer its questions first",
            "planning": "its plan is not back yet",
        }.get(row.status, "it was confirmed already" if row.run_id else "it cannot run")
        raise InvalidTransition(f"goal {goal_id} is {row.status}: only a planned goal can be confirmed ({hint})")
    if body.mode == "replay" and body.scenario is None:
        raise Invalid("a replay run needs a scenario (the recording it answers from, cli-replay format)")
    if body.mode == "real" and body.scenario is not None:
        raise Invalid("a real run takes no scenario: it executes the commands")
    request_id = f"goal:{goal_id}:run"
    envelope = _request(
        org_id,
        request_id,
        mode=body.mode,
        row_runbook=(row.runbook_id, row.runbook_version),
        filled=row.filled,
        actor=actor,
        scenario=body.scenario,
    )
    await session.execute(
        sa.update(goals)
        .where(goals.c.org_id == org_id, goals.c.id == goal_id)
        .values(
            status="confirmed",
            confirmed_by=actor,
            run_id=requested_run_id(org_id, request_id),
            run_mode=body.mode,
            updated_at=sa.func.now(),
        )
    )
    await add_to_outbox(session, SCHEMA, [(RUNBOOK_REQUESTS, envelope)])
    return await get_goal(session=session, org_id=org_id, goal_id=goal_id)


async def follow_run(*, session: AsyncSession, org_id: str, update: RunbookRunUpdated) -> bool:
    """Apply a run's status to the goal that asked for it; False when no goal follows that run."""
    row = (
        await session.execute(
            sa.select(goals)
            .where(
                goals.c.org_id == org_id, sa.or_(goals.c.plan_run_id == update.run_id, goals.c.run_id == update.run_id)
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        return False
    where = sa.and_(goals.c.org_id == org_id, goals.c.id == row.id)
    if row.plan_run_id == update.run_id and row.run_id != update.run_id:
        if row.status != "planning":
            return True  # a plan already taken, or a redelivery
        if update.status == "planned":
            refused = [
                f"step {e.get('step_id')}: {e.get('verdict')}"
                for e in update.plan or []
                if str(e.get("verdict", "")).startswith("refused")
            ]
            await session.execute(
                sa.update(goals)
                .where(where)
                .values(
                    status="planned",
                    plan=update.plan or [],
                    warnings=[w for w in row.warnings if not w.startswith("step ")] + refused,
                    updated_at=sa.func.now(),
                )
            )
        elif update.status in ("refused", "failed"):
            reason = f"the dry-run was refused: {update.reason or 'no reason given'}"
            await session.execute(
                sa.update(goals).where(where).values(status="failed", reason=reason, updated_at=sa.func.now())
            )
        return True
    if row.status in ENDED_GOAL_STATUSES:
        return True  # an ended goal keeps its outcome (redeliveries, late messages)
    status = RUN_TO_GOAL.get(update.status)
    if status is None:
        return True
    values: dict[str, Any] = {
        "status": status,
        "run_status": update.status,
        "current_step": update.current_step,
        "waiting_for": update.waiting_for,
        "updated_at": sa.func.now(),
    }
    if update.artifacts is not None:
        values["artifacts"] = update.artifacts
    if status == "failed":
        values["reason"] = (
            f"the run was refused: {update.reason}"
            if update.status == "refused"
            else f"the run {update.status}" + (f": {update.reason}" if update.reason else "")
        )
    await session.execute(sa.update(goals).where(where).values(**values))
    return True


# -- reading --------------------------------------------------------------------------------------------


def to_read(row: Any) -> GoalRead:
    specs = {s["name"]: s for s in row.spec}
    parameters = [
        GoalParameter(
            name=name,
            value="<secret>" if specs.get(name, {}).get("secret") else v["value"],
            source=v["source"],
            evidence=v.get("evidence"),
        )
        for name, v in row.filled.items()
    ]
    return GoalRead(
        id=row.id,
        text=row.text,
        status=row.status,
        intent=row.intent,
        playbook=GoalCandidate.model_validate(row.playbook) if row.playbook else None,
        runners_up=[GoalCandidate.model_validate(c) for c in row.runners_up],
        parameters=parameters,
        questions=[GoalQuestion.model_validate(q) for q in open_questions(row.spec, row.filled)],
        plan=row.plan,
        plan_run_id=row.plan_run_id,
        run_id=row.run_id,
        run_mode=row.run_mode,
        run_status=row.run_status,
        current_step=row.current_step,
        waiting_for=row.waiting_for or [],
        artifacts=row.artifacts,
        reason=row.reason,
        warnings=row.warnings or [],
        created_by=row.created_by,
        confirmed_by=row.confirmed_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_goal(*, session: AsyncSession, org_id: str, goal_id: str) -> GoalRead:
    try:
        uuid.UUID(goal_id)
    except ValueError:
        raise NotFound(f"no goal {goal_id[:64]!r} in this org") from None
    row = (await session.execute(sa.select(goals).where(goals.c.org_id == org_id, goals.c.id == goal_id))).first()
    if row is None:
        raise NotFound(f"no goal {goal_id} in this org")
    return to_read(row)


async def list_goals(*, session: AsyncSession, org_id: str, limit: int) -> list[GoalRead]:
    rows = await session.execute(
        sa.select(goals).where(goals.c.org_id == org_id).order_by(goals.c.created_at.desc(), goals.c.id).limit(limit)
    )
    return [to_read(r) for r in rows]
