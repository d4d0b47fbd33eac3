"""Goals (recommendation-agent): a goal in plain words, its questions and answers, its plan and its run.

A goal picks the best runnable playbook for a sentence, fills its parameters from the words and the
intent (each value with where it came from), asks for the rest in one round, plans it as a dry-run in
runbook-runtime, and after a confirmation follows the real run to its end.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr, StringConstraints

from .base import JsonObject, StrictModel, UtcDatetime
from .recommendation import PLAYBOOK_ID_PATTERN, VERSION_PATTERN

GoalStatus = Literal[
    "collecting",  # questions are open
    "planning",  # complete: the dry-run was requested
    "planned",  # the dry-run's plan is here: waiting for a confirmation
    "confirmed",  # the real (or replay) run was requested
    "running",
    "waiting",  # the run waits for evidence or an approval (four eyes happen in runbook-runtime)
    "succeeded",
    "failed",
    "unmatched",  # no runnable playbook fits the words
]
ENDED_GOAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "unmatched"})
# Where a parameter's value came from.
ValueSource = Literal["intent", "words", "answer", "default"]
ParameterType = Literal["string", "integer", "number", "boolean"]

MAX_GOAL_TEXT = 500
MAX_ANSWERS = 50  # a playbook has at most 50 parameters
MAX_ANSWER_CHARS = 1000

# An answer is one scalar: vars are text, so lists and objects have no meaning here.
AnswerValue = (
    Annotated[StrictStr, StringConstraints(max_length=MAX_ANSWER_CHARS)] | StrictBool | StrictInt | StrictFloat
)
ParameterValue = str | bool | int | float


class GoalCreate(StrictModel):
    text: Annotated[str, StringConstraints(min_length=2, max_length=MAX_GOAL_TEXT)] = Field(
        description="The goal in plain words, e.g. 'Stop production RDS orders-db for the weekend'."
    )
    playbook_id: Annotated[str, StringConstraints(pattern=PLAYBOOK_ID_PATTERN)] | None = Field(
        default=None, description="Take this candidate (e.g. a runner-up) instead of the ranking's winner."
    )
    version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)] | None = Field(
        default=None, description="With playbook_id: that version (default: the ranked one)."
    )


class GoalAnswers(StrictModel):
    answers: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], AnswerValue] = Field(
        max_length=MAX_ANSWERS,
        description="Parameter name -> value (a string, number or boolean); only the goal's parameters.",
    )


class GoalConfirm(StrictModel):
    mode: Literal["real", "replay"] = Field(
        default="real",
        description="real executes the commands (the org's policy must let automation start real runs); replay "
        "answers them from a recording (scenario, cli-replay format).",
    )
    scenario: JsonObject | None = Field(default=None, description="The recording a replay run answers from.")


class GoalParameter(BaseModel):
    name: str
    value: ParameterValue | None
    source: ValueSource
    evidence: str | None = Field(default=None, description="The words the value was read from, or who answered.")


class GoalQuestion(BaseModel):
    name: str
    type: ParameterType
    description: str
    required: bool
    allowed: list[str] | None = None
    default: ParameterValue | None = None
    secret: bool = False


class GoalCandidate(BaseModel):
    playbook_id: str
    version: str
    name: str
    source: str
    rank: int
    confidence: float
    match: str
    runnable: bool
    why_not: str | None = Field(default=None, description="Why this candidate cannot run as a goal.")


class GoalRead(BaseModel):
    id: str
    text: str
    status: GoalStatus
    intent: dict[str, Any]
    playbook: GoalCandidate | None
    runners_up: list[GoalCandidate]
    parameters: list[GoalParameter]
    questions: list[GoalQuestion]
    plan: list[dict[str, Any]] | None = Field(default=None, description="The dry-run's plan, once planned.")
    plan_run_id: str | None = None
    run_id: str | None = None
    run_mode: str | None = None
    run_status: str | None = None
    current_step: str | None = None
    waiting_for: list[Any] = Field(default_factory=list)
    artifacts: Any = None
    reason: str | None = Field(default=None, description="Why the goal is unmatched or failed.")
    warnings: list[str] = Field(default_factory=list)
    created_by: str
    confirmed_by: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class GoalPage(BaseModel):
    items: list[GoalRead]
