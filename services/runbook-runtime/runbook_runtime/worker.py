"""The consumers: ``runbook-requests.v1`` -> a run, advanced as far as it goes; ``runbooks.compiled.v1``
-> the org's published runbooks, which requests name by id and version."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError

from playbooks_contracts import Envelope
from playbooks_contracts.messages import RunbookCompiled, RunbookRequested
from playbooks_platform import messages
from playbooks_platform.bus import Delivery
from playbooks_platform.bus.consumer import Handler
from playbooks_platform.errors import Conflict, DomainError, PoisonMessage
from playbooks_platform.service import Runtime

from . import announce
from .automation import admit
from .flows import start_run
from .published import publish_runbook
from .run_request import RunRequest
from .settings import RunbookRuntimeSettings


def requests_handler(runtime: Runtime[RunbookRuntimeSettings]) -> Handler:
    settings = runtime.settings

    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            envelope = d.message
            try:
                request = RunbookRequested.model_validate(envelope.data)
            except ValidationError as exc:
                raise PoisonMessage(f"not a runbook.requested message: {exc.errors()[0]['msg']}") from None
            org_id = envelope.org_id
            # what the run announces and publishes while this request is handled is caused by it
            cause = messages.cause(envelope)
            with d.activate():
                try:
                    # A refusal (inline runbook, undeclared var, real run without the org's consent) is
                    # dead-lettered with its reason, like any request no retry can fix.
                    async with runtime.database.tenant_transaction(org_id) as session:
                        admitted = await admit(session=session, settings=settings, org_id=org_id, request=request)
                    # request_id is the run's idempotency key (per org): a redelivery finds the same run
                    run = RunRequest(
                        org_id=org_id,
                        idempotency_key=request.request_id,
                        actor=request.requested_by,
                        mode=request.mode,
                        runbook=admitted.runbook,
                        vars=request.vars,
                        scenario=request.scenario,
                        playbook_id=admitted.playbook_id,
                        playbook_version=admitted.playbook_version,
                        start=True,
                    )
                    await start_run(runtime, settings, run, cause=cause)
                except Conflict as exc:  # the run exists and is busy or ended: a redelivery, nothing to announce
                    raise PoisonMessage(exc.detail) from None
                except DomainError as exc:  # invalid runbook, unknown ref, refused, too large: retrying cannot help
                    # the requester (a goal) learns why on runbook-runs.v1 instead of waiting for ever
                    topic, refusal = announce.refused(
                        org_id=org_id,
                        request_id=request.request_id,
                        mode=request.mode,
                        reason=exc.detail,
                        cause=cause,
                    )
                    await runtime.publisher.publish(topic, refusal, key=org_id)
                    raise PoisonMessage(exc.detail) from None
        if runtime.relay is not None:
            runtime.relay.wake()

    return handle


def compiled_handler(runtime: Runtime[RunbookRuntimeSettings]) -> Handler:
    settings = runtime.settings

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
