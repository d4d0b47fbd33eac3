"""The remote groups of ``playbooks``: ``runs``, ``events``, ``playbooks``, ``exceptions``, ``search``, ``login``.

Each command calls one service (see ``config`` for where), prints a table or, with ``--json``, the
service's own answer, and turns every expected failure into one line on stderr and an exit code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.table import Table

from . import config
from .client import FAILED, PASSED, UNREACHABLE, USAGE, WAITING, Api, RemoteError
from .sse import Event, follow

RUNTIME = "runbook-runtime"
INGEST = "trigger-ingest"
CONDITIONS = "condition-engine"
EXCEPTIONS = "exception-playbook"
SEARCH = "recommendation-agent"

EXIT_CALL = (
    f"Exit codes: {PASSED} done; {USAGE} refused by the service (401, 403, 404, 409, 422: its message is printed) "
    f"or a usage error; {UNREACHABLE} the service is unreachable or failed (5xx)."
)
EXIT_RUN = (
    f"Exit codes: by the run's status, as `runbook` reports it: {PASSED} passed (or a dry-run planned, or still "
    f"running); {FAILED} failed, rejected or cancelled; {WAITING} waiting for a person (evidence or an approval); "
    f"{USAGE} refused by the service or a usage error; {UNREACHABLE} the service is unreachable or failed."
)

EXIT_GROUP = (
    f"Exit codes: each command's --help lists its own: {PASSED} done (or the run passed); {FAILED} the run failed; "
    f"{USAGE} refused or usage error; {WAITING} the run waits for a person; {UNREACHABLE} the service is unreachable."
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the service's answer as JSON (for scripts).")]
F = TypeVar("F", bound=Callable[..., Any])


def expected_errors(fn: F) -> F:
    """A ``RemoteError`` (refused, unreachable, no token, a bad file) is one line on stderr, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RemoteError as exc:
            typer.echo(f"playbooks: {exc.message}", err=True)
            raise typer.Exit(exc.code) from None

    return wrapper  # type: ignore[return-value]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _when(value: Any) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def _read_document(path: str) -> Any:
    """A JSON or YAML file (``-``: stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise RemoteError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RemoteError(f"{path} is neither JSON nor YAML: {str(exc).splitlines()[0]}") from None


def snake(value: Any) -> Any:
    """An answer's keys in snake_case (condition-engine answers in camelCase), for the tables only."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def run_exit(status: str) -> int:
    if status in ("failed", "rejected", "cancelled"):
        return FAILED
    if status == "waiting":
        return WAITING
    return PASSED


# -- login --------------------------------------------------------------------------------------------------


def login(
    token: Annotated[
        str | None, typer.Option(help="The bearer token (asked for, unechoed, when left out).", show_default=False)
    ] = None,
) -> None:
    """Keep a token for the remote commands (in ~/.config/playbooks/token, readable by you only)."""
    token = (token or typer.prompt("Token", hide_input=True)).strip()
    if not token:
        raise typer.BadParameter("the token is empty", param_hint="--token")
    path = config.save_token(token)
    try:
        me = Api(RUNTIME, token=token).get("/whoami")
    except RemoteError as exc:
        typer.echo(f"token saved in {path}; not checked: {exc.message}")
        return
    typer.echo(f"signed in as {me['user_id']} of {me['org_id']} (roles: {', '.join(me['roles'])}); token in {path}")


def logout() -> None:
    """Forget the token ``playbooks login`` kept."""
    typer.echo("token removed" if config.forget_token() else "no token was kept")


# -- runs (runbook-runtime) -----------------------------------------------------------------------------------

runs = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Runbook runs on runbook-runtime: list, show, follow, start, approve, reject, cancel.",
)


class RunStatus(StrEnum):
    running = "running"
    waiting = "waiting"
    passed = "passed"
    failed = "failed"
    planned = "planned"
    rejected = "rejected"
    cancelled = "cancelled"


class Mode(StrEnum):
    real = "real"
    replay = "replay"
    dry_run = "dry-run"


RunId = Annotated[str, typer.Argument(help="The run's id.", show_default=False)]
StepOpt = Annotated[str | None, typer.Option("--step", help="The step (default: the step the run waits at).")]


def _runs_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["run_id"],
            r["status"],
            r["mode"],
            r.get("runbook_name") or "",
            r.get("current_step") or "",
            r.get("requested_by") or "",
            _when(r.get("updated_at")),
        ]
        for r in items
    ]


@runs.command("list", epilog=EXIT_CALL)
@expected_errors
def runs_list(
    status: Annotated[list[RunStatus] | None, typer.Option(help="Only runs in this status; repeat for more.")] = None,
    runbook: Annotated[str | None, typer.Option(help="Only runs of this runbook (its meta.name).")] = None,
    since: Annotated[str | None, typer.Option(help="Only runs created at or after this ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Runs per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The page after this cursor (printed under a page).")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, following the cursors.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The org's runs, newest first."""
    api = Api(RUNTIME)
    params: list[tuple[str, Any]] = [("limit", limit)] + [("status", s.value) for s in status or []]
    params += [("runbook", runbook)] if runbook else []
    params += [("since", since)] if since else []
    page = api.get("/v1/runs", params=params + ([("cursor", cursor)] if cursor else []))
    items = list(page["items"])
    while all_pages and page.get("next_cursor"):
        page = api.get("/v1/runs", params=[*params, ("cursor", page["next_cursor"])])
        items += page["items"]
    if as_json:
        _print_json({"items": items, "count": page["count"], "next_cursor": page.get("next_cursor")})
        return
    console = _console()
    columns = ["Run", "Status", "Mode", "Runbook", "Current step", "Requested by", "Updated"]
    console.print(_table(None, columns, _runs_rows(items)))
    more = f"; next page: --cursor {page['next_cursor']}" if page.get("next_cursor") else ""
    console.print(f"{len(items)} of {page['count']} run(s){more}")


def _show_run(run: dict[str, Any]) -> None:
    console = _console()
    console.print(
        f"run {run['run_id']}  {run['status']}  ({run['mode']}"
        f"{', runbook ' + run['runbook_name'] if run.get('runbook_name') else ''})"
    )
    console.print(f"requested by {run['requested_by']}, updated {_when(run.get('updated_at'))}")
    if run.get("ended_by"):
        console.print(f"ended by {run['ended_by']}: {run.get('end_reason') or 'no reason given'}")
    rows = [
        [r["step_id"], r["status"], r["actor"], r.get("attempts", 1), _when(r.get("ended_at")), r.get("error") or ""]
        for r in run.get("history") or []
    ]
    if run.get("plan"):
        rows += [[p.get("id") or p.get("step_id"), "planned", "", "", "", p.get("note") or ""] for p in run["plan"]]
    if run.get("current_step") and run["status"] in ("waiting", "running"):
        rows.append([run["current_step"], run["status"], "", "", "", "; ".join(run.get("waiting_for") or [])])
    if rows:
        console.print(_table("Steps", ["Step", "Status", "Actor", "Attempts", "Ended", "Note"], rows))
    if run["status"] == "waiting" and run.get("waiting_for"):
        console.print(f"waiting at {run['current_step']} for: {', '.join(run['waiting_for'])}")


@runs.command("show", epilog=EXIT_RUN)
@expected_errors
def runs_show(run_id: RunId, as_json: JsonFlag = False) -> None:
    """One run: its status, steps and what a waiting step still needs."""
    run = Api(RUNTIME).get(f"/v1/runs/{run_id}")
    _print_json(run) if as_json else _show_run(run)
    raise typer.Exit(run_exit(run["status"]))


def _record_line(event: Event) -> str:
    """One line per event: its place, kind, and the few fields that say what happened."""
    data = event.data if isinstance(event.data, dict) else {"data": event.data}
    if event.event == "status":
        where = f" at {data['current_step']}" if data.get("current_step") else ""
        return f"     status {data.get('status')}{where}"
    if event.event == "end":
        return f"     end: the run {data.get('status')}"
    parts: list[str] = []
    result = data.get("result") if isinstance(data.get("result"), dict) else None
    if result is not None:
        parts += [str(result.get("step_id")), str(result.get("status"))]
        if result.get("attempts", 1) != 1:
            parts.append(f"({result['attempts']} attempts)")
        if result.get("error"):
            parts.append(f"error: {result['error']}")
    else:
        for key in ("step_id", "name", "status", "by", "role", "actor", "reason"):
            if data.get(key) not in (None, "", []):
                parts.append(f"{key}={data[key]}")
        if data.get("missing"):
            parts.append(f"needs: {', '.join(map(str, data['missing']))}")
    return f"{event.id or '':>4} {event.event:<20} {' '.join(parts)}".rstrip()


@runs.command("tail", epilog=EXIT_RUN)
@expected_errors
def runs_tail(
    run_id: RunId,
    after: Annotated[int, typer.Option(help="Start after this event id (-1: from the first record).")] = -1,
    as_json: JsonFlag = False,
) -> None:
    """Follow the run as it happens until it ends (reconnecting with Last-Event-ID if the stream drops)."""

    def show(event: Event) -> None:
        if as_json:
            typer.echo(json.dumps({"id": event.id, "event": event.event, "data": event.data}, ensure_ascii=False))
        else:
            typer.echo(_record_line(event))

    status = follow(Api(RUNTIME), run_id, show, after=after)
    raise typer.Exit(run_exit(status))


def _vars(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: use name=value", param_hint="--var")
        out[key] = value
    return out


@runs.command("start", epilog=EXIT_RUN)
@expected_errors
def runs_start(
    runbook: Annotated[
        str | None, typer.Argument(help="A runbook file (YAML or JSON; - for stdin).", show_default=False)
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="A runbook in the service's runbooks folder, instead of a file.")
    ] = None,
    mode: Annotated[
        Mode, typer.Option(help="real executes; replay answers from --scenario; dry-run plans.")
    ] = Mode.dry_run,
    var: Annotated[list[str] | None, typer.Option(help="A variable, name=value; repeat for more.")] = None,
    scenario: Annotated[str | None, typer.Option(help="The cli-replay scenario file (replay mode).")] = None,
    advance: Annotated[bool, typer.Option("--start/--no-start", help="Advance at once until a pause.")] = True,
    tail: Annotated[bool, typer.Option(help="Then follow the run until it ends.")] = False,
    key: Annotated[str | None, typer.Option(help="Idempotency key: the same key returns the same run.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a run of a runbook file (or --ref); prints the run, or follows it with --tail."""
    if (runbook is None) == (ref is None):
        raise typer.BadParameter("give a runbook file or --ref, not both", param_hint="RUNBOOK")
    body: dict[str, Any] = {"mode": mode.value, "vars": _vars(var), "start": advance and mode is not Mode.dry_run}
    if runbook is not None:
        doc = _read_document(runbook)
        if not isinstance(doc, dict):
            raise RemoteError(f"{runbook} does not hold a runbook document (a mapping)")
        body["runbook"] = doc
    else:
        body["runbook_ref"] = ref
    if scenario is not None:
        body["scenario"] = _read_document(scenario)
    api = Api(RUNTIME, timeout=900)  # a start advances the run: its steps run before the answer
    run = api.post("/v1/runs", json=body, headers={"Idempotency-Key": key} if key else None)
    if tail:
        if not as_json:
            typer.echo(f"run {run['run_id']} started; following it")
        runs_tail(run["run_id"], after=-1, as_json=as_json)
    _print_json(run) if as_json else _show_run(run)
    raise typer.Exit(run_exit(run["status"]))


@runs.command("continue", epilog=EXIT_RUN)
@expected_errors
def runs_continue(
    run_id: RunId,
    one: Annotated[bool, typer.Option("--next", help="Only the current step, not until the next pause.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Advance the run (after its evidence and approvals are in) until it pauses, fails or ends."""
    answer = Api(RUNTIME, timeout=900).post(f"/v1/runs/{run_id}/{'next' if one else 'continue'}")
    run = answer["run"]
    _print_json(answer) if as_json else _show_run(run)
    raise typer.Exit(run_exit(run["status"]))


def _done(run: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        _print_json(run)
        return
    where = f" at {run['current_step']}" if run.get("current_step") else ""
    needs = f"; still needs: {', '.join(run['waiting_for'])}" if run.get("waiting_for") else ""
    typer.echo(f"{what}; run {run['run_id']} is {run['status']}{where}{needs}")


@runs.command("approve", epilog=EXIT_CALL)
@expected_errors
def runs_approve(run_id: RunId, step: StepOpt = None, as_json: JsonFlag = False) -> None:
    """Approve the gate the run waits at, as yourself (your token's user and roles)."""
    run = Api(RUNTIME).post(f"/v1/runs/{run_id}/approvals", json={"step_id": step} if step else {})
    _done(run, "approved", as_json)


@runs.command("reject", epilog=EXIT_CALL)
@expected_errors
def runs_reject(
    run_id: RunId,
    reason: Annotated[str, typer.Option(help="Why the gate is refused (kept in the run and its trace).")],
    step: StepOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Refuse the gate: the run ends rejected."""
    body = {"reason": reason} | ({"step_id": step} if step else {})
    _done(Api(RUNTIME).post(f"/v1/runs/{run_id}/reject", json=body), "rejected", as_json)


@runs.command("cancel", epilog=EXIT_CALL)
@expected_errors
def runs_cancel(
    run_id: RunId,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the run and its trace).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Stop the run for good (it ends cancelled)."""
    if not yes and not typer.confirm(f"Cancel run {run_id} for good?", default=False):
        raise typer.Exit(USAGE)
    body = {"reason": reason} if reason else None
    _done(Api(RUNTIME).post(f"/v1/runs/{run_id}/cancel", json=body), "cancelled", as_json)


@runs.command("evidence", epilog=EXIT_CALL)
@expected_errors
def runs_evidence(
    run_id: RunId,
    name: Annotated[str, typer.Argument(help="The evidence's name, as the manual step declares it.")],
    text: Annotated[str | None, typer.Option(help="Text evidence.")] = None,
    check: Annotated[list[str] | None, typer.Option(help="A checklist item to tick; repeat for more.")] = None,
    file: Annotated[Path | None, typer.Option(help="An attachment to upload.", dir_okay=False)] = None,
    step: StepOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit one piece of evidence for a manual step: --text, --check (repeatable) or --file."""
    if sum(x is not None and x != [] for x in (text, check, file)) != 1:
        raise typer.BadParameter("give exactly one of --text, --check or --file", param_hint="--text/--check/--file")
    body: dict[str, Any] = {"name": name} | ({"step_id": step} if step else {})
    digest = None
    if file is not None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise RemoteError(f"cannot read {file}: {exc.strerror}") from None
        digest = hashlib.sha256(data).hexdigest()
        body |= {"filename": file.name, "content_base64": base64.b64encode(data).decode()}
    else:
        body["value"] = text if text is not None else list(check or [])
    run = Api(RUNTIME).post(f"/v1/runs/{run_id}/evidence", json=body)
    what = f"{name} attached ({file.name}, {len(data)} bytes, sha256 {digest})" if file is not None else f"{name} set"
    _done(run, what, as_json)


# -- events (trigger-ingest) ----------------------------------------------------------------------------------

events = typer.Typer(no_args_is_help=True, rich_markup_mode=None, epilog=EXIT_GROUP, help="Events into trigger-ingest.")
BATCH = 1000  # the most POST /v1/events:batch takes


def _events_from(text: str, trigger: str | None) -> list[dict[str, Any]]:
    """A JSON object, a JSON array, {"events": [...]}, or JSON Lines (one event per line)."""
    try:
        doc = json.loads(text)
        found = doc["events"] if isinstance(doc, dict) and isinstance(doc.get("events"), list) else doc
        items = found if isinstance(found, list) else [found]
    except ValueError:
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise RemoteError(f"line {n} is not JSON: {exc}") from None
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise RemoteError(f"event {n} is not a JSON object")
        if "trigger" not in item:
            if trigger is None:
                raise RemoteError(f'event {n} names no trigger: add a "trigger" field or pass --trigger')
            item = {"trigger": trigger} | item
        out.append(item)
    if not out:
        raise RemoteError("no events in the input")
    return out


@events.command("send", epilog=EXIT_CALL)
@expected_errors
def events_send(
    source: Annotated[
        str, typer.Argument(help="A file of events (JSON, a JSON array or JSON Lines); - for stdin.")
    ] = "-",
    trigger: Annotated[
        str | None, typer.Option(help="The trigger of events that name none (activity_event, exception, ...).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: resending the same input publishes nothing twice.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send events to trigger-ingest, in batches of up to 1,000."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise RemoteError(f"cannot read {source}: {exc.strerror}") from None
    items = _events_from(text, trigger)
    api = Api(INGEST, timeout=120)
    accepted = duplicates = 0
    ids: list[Any] = []
    for start in range(0, len(items), BATCH):
        headers = {"Idempotency-Key": f"{key}-{start // BATCH}"} if key else None
        try:
            answer = api.post("/v1/events:batch", json={"events": items[start : start + BATCH]}, headers=headers)
        except RemoteError as exc:
            sent = f" ({start} sent before it)" if start else ""
            raise RemoteError(
                f"{exc.message} [events {start + 1}-{min(start + BATCH, len(items))}]{sent}", exc.code
            ) from None
        accepted += answer["accepted"]
        duplicates += answer["duplicates"]
        ids += answer["events"]
    if as_json:
        _print_json({"accepted": accepted, "duplicates": duplicates, "events": ids})
    else:
        typer.echo(f"{accepted} event(s) accepted, {duplicates} duplicate(s)")


# -- playbooks (condition-engine) -----------------------------------------------------------------------------

playbooks = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, epilog=EXIT_GROUP, help="The org's condition-engine playbooks."
)


@playbooks.command("list", epilog=EXIT_CALL)
@expected_errors
def playbooks_list(
    status: Annotated[str | None, typer.Option(help="Only playbooks in this status (active, inactive).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The org's playbooks."""
    answer = Api(CONDITIONS).get("/api/playbooks", params={"status": status} if status else None)
    if as_json:
        _print_json(answer)
        return
    rows = [
        [p["id"], p["name"], p["trigger"], p["status"], p["version"], _when(p.get("last_run_at"))]
        for p in snake(answer)["items"]
    ]
    console = _console()
    console.print(_table(None, ["Id", "Name", "Trigger", "Status", "Version", "Last run"], rows))
    console.print(f"{len(rows)} playbook(s)")


@playbooks.command("dry-run", epilog=EXIT_CALL)
@expected_errors
def playbooks_dry_run(
    playbook_id: Annotated[str, typer.Argument(help="The playbook's id.", show_default=False)],
    event: Annotated[
        str | None, typer.Option(help="A file with the event's data (- for stdin); default: a sample event.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What the playbook would do on an event, with nothing written or sent."""
    api = Api(CONDITIONS)
    if event is None:
        answer = api.get(f"/api/playbooks/{playbook_id}/dry-run")
    else:
        data = _read_document(event)
        answer = api.post(f"/api/playbooks/{playbook_id}/dry-run", json={"event": data})
    if as_json:
        _print_json(answer)
        return
    answer = snake(answer)
    console = _console()
    verdict = "would run" if answer["would_run"] else "would not run"
    console.print(f"playbook {answer['playbook_id']} ({answer['trigger']}): {verdict}, status {answer['status']}")
    rows = [
        [c["index"], c["field"], c["op"], c["value"], "yes" if c["passed"] else "no", c["message"]]
        for c in answer["conditions"]
    ]
    if rows:
        console.print(_table("Conditions", ["#", "Field", "Op", "Value", "Passed", "Message"], rows))
    for n, action in enumerate(answer["actions"], 1):
        console.print(f"action {n}: {json.dumps(action, ensure_ascii=False, default=str)}")
    if answer.get("reason"):
        console.print(f"why not: {answer['reason']}")


# -- exceptions (exception-playbook) --------------------------------------------------------------------------

exceptions = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Exceptions on exception-playbook and the steps of their playbooks.",
)
ExceptionRef = Annotated[str, typer.Argument(help="The exception's id or external id.", show_default=False)]


@exceptions.command("list", epilog=EXIT_CALL)
@expected_errors
def exceptions_list(
    status: Annotated[list[str] | None, typer.Option(help="Only exceptions in this status; repeat for more.")] = None,
    since: Annotated[str | None, typer.Option(help="Only exceptions created at or after this ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Exceptions per page, newest first.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The page after this cursor (printed under a page).")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, following the cursors.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The org's exceptions, newest first."""
    api = Api(EXCEPTIONS)
    params: list[tuple[str, Any]] = [("limit", limit)] + [("status", s) for s in status or []]
    params += [("since", since)] if since else []
    answer = api.get("/api/exceptions", params=params + ([("cursor", cursor)] if cursor else []))
    items = list(answer["items"])
    while all_pages and answer.get("next_cursor"):
        answer = api.get("/api/exceptions", params=[*params, ("cursor", answer["next_cursor"])])
        items += answer["items"]
    answer = answer | {"items": items}
    if as_json:
        _print_json(answer)
        return
    rows = [
        [
            e["id"],
            e.get("external_id") or "",
            f"{e['domain']}/{e['exception_type']}",
            e["severity"],
            e["status"],
            e.get("current_step") or "",
            _when(e.get("created_at")),
        ]
        for e in answer["items"]
    ]
    console = _console()
    console.print(_table(None, ["Id", "External id", "Type", "Severity", "Status", "Step", "Created"], rows))
    more = f"; next page: --cursor {answer['next_cursor']}" if answer.get("next_cursor") else ""
    console.print(f"{len(rows)} of {answer.get('count', len(rows))} exception(s){more}")


def _show_steps(book: dict[str, Any]) -> None:
    console = _console()
    name = f"{book.get('name')} v{book.get('version')}" if book.get("playbook_id") else "no playbook"
    console.print(f"playbook: {name} ({book['state']}); exception {book['exception_status']}")
    if book.get("reasoning"):
        console.print(f"why: {book['reasoning']}")
    rows = [
        [
            ("> " if s["step_order"] == book.get("current_step") else "  ") + str(s["step_order"]),
            s["name"],
            s["action_type"],
            s["status"],
            f"{s.get('actor_type') or ''}:{s['actor_id']}" if s.get("actor_id") else "",
            _when(s.get("at")),
        ]
        for s in book.get("steps") or []
    ]
    if rows:
        console.print(_table("Steps", ["Step", "Name", "Action", "Status", "By", "At"], rows))


@exceptions.command("show", epilog=EXIT_CALL)
@expected_errors
def exceptions_show(ref: ExceptionRef, as_json: JsonFlag = False) -> None:
    """One exception and its playbook's steps (the current one marked >)."""
    api = Api(EXCEPTIONS)
    exc = api.get(f"/api/exceptions/{ref}")
    book = api.get(f"/api/exceptions/{ref}/playbook")
    if as_json:
        _print_json({"exception": exc, "playbook": book})
        return
    console = _console()
    console.print(
        f"exception {exc['id']}{' (' + exc['external_id'] + ')' if exc.get('external_id') else ''}: "
        f"{exc['domain']}/{exc['exception_type']}, {exc['severity']}, {exc['status']}"
    )
    if exc.get("summary"):
        console.print(exc["summary"])
    _show_steps(book)


@exceptions.command("complete-step", epilog=EXIT_CALL)
@expected_errors
def exceptions_complete_step(
    ref: ExceptionRef,
    step: Annotated[int, typer.Argument(help="The step's order (the next step).", show_default=False)],
    notes: Annotated[str | None, typer.Option(help="Notes kept with the step.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Complete the exception's next step, as yourself: its action runs."""
    book = Api(EXCEPTIONS).post(
        f"/api/exceptions/{ref}/playbook/steps/{step}/complete", json={"notes": notes} if notes else None
    )
    _print_json(book) if as_json else _show_steps(book)


# -- search (recommendation-agent) ----------------------------------------------------------------------------


def search(
    words: Annotated[str, typer.Argument(help="What you want done, in words.", show_default=False)],
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many results.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """The playbooks that best fit a request in words, ranked, with the reasons."""
    answer = Api(SEARCH).post("/api/playbook/search", json={"query": words, "limit": limit})
    if as_json:
        _print_json(answer)
        return
    console = _console()
    rows = [
        [
            r["rank"],
            r["name"],
            r["version"],
            r["source"],
            f"{r['confidence']:.2f}",
            r.get("match", ""),
            r["reason"],
        ]
        for r in answer["results"]
    ]
    console.print(
        _table(
            f"Results for {answer['query']!r}",
            ["#", "Playbook", "Version", "Source", "Confidence", "Match", "Why"],
            rows,
        )
    )
    if answer.get("notice"):
        console.print(answer["notice"])


search_command = expected_errors(search)


def register(app: typer.Typer, epilog: str) -> None:
    """Add the remote commands to ``playbooks``."""
    app.command("login", epilog=epilog)(login)
    app.command("logout", epilog=epilog)(logout)
    app.add_typer(runs, name="runs", epilog=EXIT_GROUP)
    app.add_typer(events, name="events", epilog=EXIT_GROUP)
    app.add_typer(playbooks, name="playbooks", epilog=EXIT_GROUP)
    app.add_typer(exceptions, name="exceptions", epilog=EXIT_GROUP)
    app.command("search", epilog=EXIT_CALL)(search_command)
