"""The request consumer: ``runbook-requests.v1`` -> a run, advanced as far as it goes."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from playbooks_contracts.messages import RunbookRequested
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import DomainError, PoisonMessage
from playbooks_platform.service import Runtime

from .flows import start_run
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
            with d.activate():
                try:
                    # request_id is the run's idempotency key: a redelivery finds the same run
                    await start_run(
                        runtime,
                        settings,
                        org_id=envelope.org_id,  # type: ignore[attr-defined]
                        idempotency_key=request.request_id,
                        runbook=request.runbook,
                        runbook_ref=request.runbook_ref,
                        mode=request.mode,
                        vars_=request.vars,
                        scenario=request.scenario,
                        replay_evidence=None,
                        actor=request.requested_by,
                        playbook_id=request.playbook_id,
                        playbook_version=request.playbook_version,
                        start=True,
                    )
                except DomainError as exc:  # invalid runbook, unknown ref, too large: retrying cannot help
                    raise PoisonMessage(exc.detail) from None
        if runtime.relay is not None:
            runtime.relay.wake()

    return handle
