"""The exception-playbook service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

from playbooks_contracts.topics import TRIGGERS
from playbooks_platform.service import ConsumerSpec, ServiceSpec, create_app

from .models import SCHEMA
from .routes import router
from .settings import ExceptionPlaybookSettings
from .worker import triggers_handler

spec = ServiceSpec(
    name="exception-playbook",
    package="exception_playbook",
    description="Matches each exception to the best playbook (conditions + priority, with reasoning), lets people "
    "and safe automation carry its steps out (notify, assign_owner, set_status, add_comment, call_tool; checked "
    "against the org's policy and domain packs), and keeps every step on an append-only event log.",
    settings_cls=ExceptionPlaybookSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=True,
    consumers=[
        ConsumerSpec(
            group="exception-playbook.triggers",
            topics=[TRIGGERS],
            handler=triggers_handler,
            # Idempotency and ordering are per exception, enforced by the database (processed ids,
            # row locks); the candidate cache is only ever replaced whole per org.
            concurrent_partitions=True,
        )
    ],
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory exception_playbook.main:create``."""
    return create_app(spec)
