"""What a runbook request from automation may start: events fill slots, not programs.

A request on ``runbook-requests.v1`` comes from automation (condition-engine actions,
exception-playbook tools), so whatever an event carries may be in it. It may name a runbook the
org published (``runbook_id`` and ``runbook_version``) or a file the operator installed
(``runbook_ref``), and fill that runbook's declared vars within their ``allowed`` values; it can
never bring its own steps or governance. A real run also needs the org's policy switch
``automation_real_runs``, off by default. See docs/decisions/0008-events-fill-slots.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.messages import RunbookRequested
from playbooks_contracts.runbook import Meta
from playbooks_platform.errors import Forbidden, Invalid

from .flows import resolve_ref
from .org_policy import get_policy
from .published import get_published
from .service import check_runbook
from .settings import RunbookRuntimeSettings


@dataclass(frozen=True)
class Admitted:
    """The runbook a request resolved to, and the playbook version its outcome counts for."""

    runbook: dict[str, Any]
    playbook_id: str | None
    playbook_version: str | None


async def admit(
    *, session: AsyncSession, settings: RunbookRuntimeSettings, org_id: str, request: RunbookRequested
) -> Admitted:
    """The runbook the request may start; raises ``Forbidden`` or ``Invalid`` (with the reason) otherwise."""
    if request.runbook is not None:
        raise Forbidden(
            "inline runbooks are refused on runbook-requests.v1: automation starts a runbook the org published "
            "(runbook_id and runbook_version) or one the operator installed (runbook_ref), and only fills its vars"
        )
    if (request.runbook_id is None) == (request.runbook_ref is None):
        raise Invalid("a runbook request names exactly one of runbook_id (with runbook_version) or runbook_ref")
    playbook_id: str | None
    playbook_version: str | None
    if request.runbook_id is not None:
        if not request.runbook_version:
            raise Invalid("runbook_id needs runbook_version: a reference names one exact published version")
        document = await get_published(
            session=session, org_id=org_id, runbook_id=request.runbook_id, version=request.runbook_version
        )
        # A published runbook is that playbook version (recommendation-agent keeps it under the same key).
        playbook_id = request.playbook_id or request.runbook_id
        playbook_version = request.playbook_version or request.runbook_version
    else:
        document = resolve_ref(settings, request.runbook_ref or "")
        playbook_id, playbook_version = request.playbook_id, request.playbook_version
    check_slots(check_runbook(document).meta, request.vars)
    if request.mode == "real":
        policy = await get_policy(session=session, org_id=org_id, default=settings.default_org_policy)
        if not policy.automation_real_runs:
            raise Forbidden(
                "automation may not start real runs in this org: its policy has automation_real_runs off (the "
                "default); an org admin can turn it on, or the request can ask for a dry-run"
            )
    return Admitted(document, playbook_id, playbook_version)


def check_slots(meta: Meta, values: dict[str, str]) -> None:
    """Every value fills a var the runbook declares, within what the declaration allows.

    Messages never repeat a value: it may be secret, and it came from an event.
    """
    for name, value in values.items():
        if name not in meta.vars:
            declared = ", ".join(sorted(meta.vars)) or "none"
            raise Invalid(
                f"var {name!r} is not declared by runbook {meta.name!r} (declared: {declared}); "
                "automation may fill declared vars only"
            )
        spec = meta.spec(name)
        refusal = spec.refusal(value)
        if refusal == "not_allowed":
            shown = "" if spec.secret else f" ({', '.join(spec.allowed or [])})"
            raise Invalid(f"var {name!r} got a value outside the ones runbook {meta.name!r} allows{shown}")
        if refusal == "option":
            raise Invalid(
                f"var {name!r} got a value starting with '-' (an option), and the runbook does not mark it a flag"
            )
