"""``runbook-runs.v1``: each run's status as it changes, for whoever asked for it (a goal follows its runs).

A dry-run announces its plan, a run its start, every change of status at the end of an advance (waiting,
passed, failed, rejected, cancelled), and a request from ``runbook-requests.v1`` that never became a run
announces why it was refused. Ids are derived, so a redelivered announcement is a duplicate. A run
started for a consumed request (on ``runbook-requests.v1``) keeps that request as its cause (the run
row's ``caused_by``): every announcement of the run, later advances over HTTP included, is caused by
it (``cause``); a run started over HTTP starts a chain of its own. An
announcement records what happened: at the end of a causation chain it stays there (``clamp``), so a
request at the depth limit still tells its requester what became of it.
"""

from __future__ import annotations

from typing import Any

from playbooks_contracts import derived_id
from playbooks_contracts.messages import RunbookRunUpdated, requested_run_id
from playbooks_contracts.topics import RUNBOOK_RUNS, Topic
from playbooks_platform import messages
from playbooks_platform.messages import Cause, Message

SOURCE = "runbook-runtime"


def run_update(
    *,
    org_id: str,
    run_id: str,
    request_id: str | None,
    mode: str,
    status: str,
    seq: int,
    playbook_id: str | None = None,
    playbook_version: str | None = None,
    current_step: str | None = None,
    waiting_for: list[Any] | None = None,
    plan: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    artifacts: Any = None,
    cause: Cause | None = None,
) -> tuple[Topic, Message]:
    data = RunbookRunUpdated(
        run_id=run_id,
        request_id=request_id,
        mode=mode,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        playbook_id=playbook_id,
        playbook_version=playbook_version,
        current_step=current_step,
        waiting_for=waiting_for or [],
        plan=plan,
        reason=reason,
        artifacts=artifacts,
    )
    return RUNBOOK_RUNS, messages.caused_or_new(
        cause,
        id=derived_id("runbook-run-updated", run_id, seq, status),
        type="runbook.run_updated",
        org_id=org_id,
        data=data.model_dump(mode="json"),
        source=SOURCE,
        clamp=True,
    )


def of_row(row: dict[str, Any], *, seq: int = 0, cause: Cause | None = None) -> tuple[Topic, Message]:
    """The announcement of a run as its row (or the values written to it) stands."""
    summary = row.get("summary") or {}
    return run_update(
        org_id=row["org_id"],
        run_id=row["run_id"],
        request_id=row.get("idempotency_key"),
        mode=row["mode"],
        status=row["status"],
        seq=seq,
        playbook_id=row.get("playbook_id"),
        playbook_version=row.get("playbook_version"),
        current_step=row.get("current_step"),
        waiting_for=row.get("waiting_for") or [],
        plan=row.get("plan"),
        reason=summary.get("end_reason"),
        artifacts=row.get("artifacts") or summary.get("artifacts"),
        cause=cause,
    )


def jsonable(value: Any) -> Any:
    """A run's artifact bundle as JSON, whatever form the state keeps it in (a model, plain data, nothing)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def refused(
    *, org_id: str, request_id: str, mode: str, reason: str, cause: Cause | None = None
) -> tuple[Topic, Message]:
    """A request that never became a run: the requester learns why instead of waiting for ever."""
    return run_update(
        org_id=org_id,
        run_id=requested_run_id(org_id, request_id),
        request_id=request_id,
        mode=mode,
        status="refused",
        seq=-1,
        reason=reason[:2000],
        cause=cause,
    )
