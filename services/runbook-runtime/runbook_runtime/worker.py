"""The consumers: ``runbook-requests.v1`` -> a run, advanced as far as it goes; ``runbooks.compiled.v1``
-> the org's published runbooks, which requests name by id and version."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError

from playbooks_contracts import Envelope
from playbooks_contracts.messages import RunbookCompiled, RunbookRequested
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import DomainError, PoisonMessage
from playbooks_platform.service import Runtime

from .automation import admit
from .flows import start_run
from .published import publish_runbook
from .settings import RunbookRuntimeSettings


def requests_handler(runtime: Runtime) -> Handler:
    settings: RunbookRuntimeSettings = runtime.settings  # type: ignore[assignment]

    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            envelope = d.message
            try:
                request = RunbookRequested.model_validate(envelope.data)  # type: ignore[attr-defined]
            except ValidationError as exc:
                raise PoisonMessage(f"not a runbook.requested message: {exc.errors()[0]['msg']}") from None
            org_id: str = envelope.org_id  # type: ignore[attr-defined]
            with d.activate():
                try:
                    # A refusal (inline runbook, undeclared var, real run without the org's consent) is
                    # dead-lettered with its reason, like any request no retry can fix.
                    async with runtime.database.tenant_transaction(org_id) as session:
                        admitted = await admit(session=session, settings=settings, org_id=org_id, request=request)
                    # request_id is the run's idempotency key (per org): a redelivery finds the same run
                    await start_run(
                        runtime,
                        settings,
                        org_id=org_id,
                        idempotency_key=request.request_id,
                        runbook=admitted.runbook,
                        runbook_ref=None,
                        mode=request.mode,
                        vars_=request.vars,
                        scenario=request.scenario,
                        replay_evidence=None,
                        actor=request.requested_by,
                        playbook_id=admitted.playbook_id,
                        playbook_version=admitted.playbook_version,
                        start=True,
                    )
                except DomainError as exc:  # invalid runbook, unknown ref, refused, too large: retrying cannot help
                    raise PoisonMessage(exc.detail) from None
        if runtime.relay is not None:
            runtime.relay.wake()

    return handle


def compiled_handler(runtime: Runtime) -> Handler:
    settings: RunbookRuntimeSettings = runtime.settings  # type: ignore[assignment]

    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            envelope = d.message
            if not isinstance(envelope, Envelope):
                continue
            try:
                data = RunbookCompiled.model_validate(envelope.data)
            except ValidationError as exc:
                raise PoisonMessage(f"not a runbook.compiled message: {exc.errors()[0]['msg']}") from None
            size = len(json.dumps(data.runbook))
            if size > settings.max_runbook_bytes:
                raise PoisonMessage(f"the runbook is {size} bytes, over the limit of {settings.max_runbook_bytes}")
            with d.activate():
                try:
                    async with runtime.database.tenant_transaction(envelope.org_id) as session:
                        await publish_runbook(
                            session=session,
                            org_id=envelope.org_id,
                            runbook_id=data.playbook_id,
                            version=data.version,
                            document=data.runbook,
                            source=envelope.source,
                        )
                except DomainError as exc:  # invalid runbook, or a published version with other content
                    raise PoisonMessage(exc.detail) from None

    return handle
