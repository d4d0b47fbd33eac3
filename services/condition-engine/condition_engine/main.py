"""The condition-engine service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

from playbooks_contracts.topics import TRIGGERS
from playbooks_platform.service import ConsumerSpec, ServiceSpec, create_app

from .models import SCHEMA
from .routes import router
from .settings import ConditionEngineSettings
from .worker import triggers_handler

spec = ServiceSpec(
    name="condition-engine",
    package="condition_engine",
    description="Org-scoped playbooks: a JSON condition DSL evaluated on every trigger event, safe actions "
    "(log_activity, enqueue_task) published through an outbox, every run recorded, dry-runs and insights.",
    settings_cls=ConditionEngineSettings,
    routers=[router],
    schema=SCHEMA,
    outbox=True,
    consumers=[
        ConsumerSpec(
            group="condition-engine.triggers",
            topics=[TRIGGERS],
            handler=triggers_handler,
            # Runs are unique per (org, playbook, event) in the database; the compiled-playbook cache
            # is only ever replaced whole, so batches of different partitions can overlap.
            concurrent_partitions=True,
        )
    ],
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory condition_engine.main:create``."""
    return create_app(spec)
