"""The topic registry: every topic the platform uses, declared once.

Services, the dev stack, the topic-creation job and the generated AsyncAPI document all read
this module; no topic name is spelled anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic

from pydantic import BaseModel
from typing_extensions import TypeVar

from . import messages as m
from .envelope import Envelope
from .triggers import (
    TRIGGER_DATA,
    UpstreamAccountsPackRun,
    UpstreamActivityEvent,
    UpstreamException,
)

# What a consumer decodes from the topic: its raw model, or an ``Envelope`` (the platform's own topics).
M = TypeVar("M", bound=BaseModel, default=Envelope, covariant=True)


@dataclass(frozen=True)
class Topic(Generic[M]):
    name: str
    description: str
    key: str = "org_id"  # what the message key holds
    partitions: int = 6
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    # Enveloped topics: envelope ``type`` -> model of its ``data``.
    data_models: dict[str, type[BaseModel]] = field(default_factory=dict)
    # Raw topics (from systems outside the platform): the model of the whole message body.
    raw_model: type[M] | None = None

    @property
    def dlq(self) -> str:
        """The dead-letter topic: messages that could not be handled, with the reason in headers."""
        return f"{self.name}.dlq"


UPSTREAM_ACTIVITY_EVENTS = Topic(
    "upstream.activity-events",
    "Raw activity events from other systems; org id in the body.",
    producers=("upstream",),
    consumers=("trigger-ingest",),
    raw_model=UpstreamActivityEvent,
)
UPSTREAM_ACCOUNTS_PACK_RUNS = Topic(
    "upstream.accounts-pack-runs",
    "Raw accounts pack runs from other systems; org id in the body.",
    producers=("upstream",),
    consumers=("trigger-ingest",),
    raw_model=UpstreamAccountsPackRun,
)
UPSTREAM_EXCEPTIONS = Topic(
    "upstream.exceptions",
    "Raw exceptions from other systems; org id in the body.",
    producers=("upstream",),
    consumers=("trigger-ingest",),
    raw_model=UpstreamException,
)
TRIGGERS = Topic(
    "triggers.v1",
    "Validated, normalised, de-duplicated trigger events.",
    producers=("trigger-ingest",),
    consumers=("condition-engine", "exception-playbook"),
    data_models={str(k): v for k, v in TRIGGER_DATA.items()},
)
PLAYBOOK_RUNS = Topic(
    "playbook-runs.v1",
    "Every condition-engine playbook run, with its status: one message per evaluated event, carrying its runs.",
    producers=("condition-engine",),
    data_models={"playbook_runs.recorded": m.PlaybookRunsRecorded},
)
ACTIVITY_LOGGED = Topic(
    "activity.logged.v1",
    "Activities written by playbook actions (they carry their causation).",
    producers=("condition-engine",),
    data_models={"activity.logged": m.ActivityLogged},
)
TASKS_ENQUEUED = Topic(
    "tasks.enqueued.v1",
    "Internal tasks requested by playbook actions.",
    producers=("condition-engine",),
    data_models={"task.enqueued": m.TaskEnqueued},
)
EXCEPTION_EVENTS = Topic(
    "exception-events.v1",
    "The append-only event log of exceptions and their playbooks.",
    producers=("exception-playbook",),
    data_models={"exception.event": m.ExceptionEventMessage},
)
NOTIFICATIONS = Topic(
    "notifications.v1",
    "Notifications rendered by playbook steps, for delivery by a notifier.",
    producers=("exception-playbook",),
    data_models={"notification.requested": m.NotificationRequested},
)
RUNBOOK_REQUESTS = Topic(
    "runbook-requests.v1",
    "Requests to execute a published or installed runbook (from tasks and tools), filling its declared vars.",
    producers=("condition-engine", "exception-playbook", "recommendation-agent"),
    consumers=("runbook-runtime",),
    data_models={"runbook.requested": m.RunbookRequested},
)
RUNBOOK_STEP_RESULTS = Topic(
    "runbook-step-results.v1",
    "Every step result of every runbook run.",
    producers=("runbook-runtime",),
    data_models={"runbook.step_result": m.RunbookStepResult},
)
RUNBOOK_RUNS = Topic(
    "runbook-runs.v1",
    "Each run's status as it changes (planned with its plan, running, waiting, ended, or a request refused), "
    "keyed by org: requesters (goals) follow their runs by run id.",
    producers=("runbook-runtime",),
    consumers=("recommendation-agent",),
    data_models={"runbook.run_updated": m.RunbookRunUpdated},
)
PLAYBOOK_EXECUTIONS = Topic(
    "playbook-executions.v1",
    "The outcome of each finished run per playbook version.",
    producers=("runbook-runtime",),
    consumers=("recommendation-agent",),
    data_models={"playbook.executed": m.PlaybookExecuted},
)
RUNBOOKS_COMPILED = Topic(
    "runbooks.compiled.v1",
    "Runbooks compiled from prose guides, to be reviewed as pending_review playbooks; runbook-runtime keeps "
    "each org's versions so automation can start them by id and version.",
    producers=("compiler",),
    consumers=("recommendation-agent", "runbook-runtime"),
    data_models={"runbook.compiled": m.RunbookCompiled},
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    UPSTREAM_ACTIVITY_EVENTS,
    UPSTREAM_ACCOUNTS_PACK_RUNS,
    UPSTREAM_EXCEPTIONS,
    TRIGGERS,
    PLAYBOOK_RUNS,
    ACTIVITY_LOGGED,
    TASKS_ENQUEUED,
    EXCEPTION_EVENTS,
    NOTIFICATIONS,
    RUNBOOK_REQUESTS,
    RUNBOOK_STEP_RESULTS,
    RUNBOOK_RUNS,
    PLAYBOOK_EXECUTIONS,
    RUNBOOKS_COMPILED,
)

BY_NAME: dict[str, Topic[Any]] = {t.name: t for t in ALL_TOPICS}


def topic(name: str) -> Topic[Any]:
    """Look a topic up by name; an unknown name is a programming error."""
    return BY_NAME[name]
