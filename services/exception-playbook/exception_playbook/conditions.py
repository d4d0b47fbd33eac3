"""The documents playbooks are made of: match conditions and step parameters, validated on the way in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Severity = Literal["low", "medium", "high", "critical"]
ActionType = Literal["notify", "assign_owner", "set_status", "add_comment", "call_tool"]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TagCondition(Strict):
    any: list[Tag] | None = Field(default=None, min_length=1, max_length=64, description="At least one of these.")
    all: list[Tag] | None = Field(default=None, min_length=1, max_length=64, description="Every one of these.")

    @model_validator(mode="after")
    def _one(self) -> TagCondition:
        if self.any is None and self.all is None:
            raise ValueError('policy_tags needs "any" or "all" (or a plain list, meaning any)')
        return self


class MatchSpec(Strict):
    """Every condition present must hold; an absent condition matches everything."""

    domain: Text | None = Field(default=None, description="Finance, Healthcare, ... (case-insensitive).")
    exception_type: Text | None = Field(default=None, description="Case-insensitive.")
    severity_in: list[Severity] | None = Field(default=None, min_length=1)
    sla_minutes_remaining_lt: float | None = Field(
        default=None, description="Minutes left before the SLA deadline are fewer than this (no deadline: no match)."
    )
    policy_tags: list[Tag] | TagCondition | None = Field(
        default=None, description='A list (any of them) or {"any": [...]} / {"all": [...]}.'
    )

    @field_validator("severity_in", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return [v.lower().strip() if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


class PlaybookConditions(Strict):
    match: MatchSpec = Field(default_factory=MatchSpec)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000, description="The highest matching priority wins.")


# -- step parameters, one model per action type ---------------------------------------------


class StepParams(Strict):
    resolve_on_completion: bool = Field(
        default=False,
        description="On the last step: completing it also sets the exception to resolved, if the policy pack allows.",
    )


class NotifyParams(StepParams):
    channel: Text
    template_id: Text
    recipients: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=100)
    placeholders: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Extra values for the template, beside the exception's own."
    )


class AssignOwnerParams(StepParams):
    queue: Text | None = None
    user_id: Text | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AssignOwnerParams:
        if (self.queue is None) == (self.user_id is None):
            raise ValueError("assign_owner needs exactly one of queue or user_id")
        return self

    @property
    def owner(self) -> str:
        return f"queue:{self.queue}" if self.queue is not None else f"user:{self.user_id}"


class SetStatusParams(StepParams):
    status: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class AddCommentParams(StepParams):
    text_template: Annotated[str, Field(min_length=1, max_length=4000)]


class CallToolParams(StepParams):
    tool_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    payload_template: dict[str, Any] = Field(
        default_factory=dict, description="Parameters; string values may use {{ .path }} placeholders."
    )


PARAMS: dict[str, type[StepParams]] = {
    "notify": NotifyParams,
    "assign_owner": AssignOwnerParams,
    "set_status": SetStatusParams,
    "add_comment": AddCommentParams,
    "call_tool": CallToolParams,
}


def parse_params(action_type: str, params: dict[str, Any]) -> StepParams:
    """The step's parameters as the model of its action type (ValueError naming the problem)."""
    model = PARAMS.get(action_type)
    if model is None:
        raise ValueError(f"unknown action_type {action_type!r}; one of {sorted(PARAMS)}")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise ValueError(f"{action_type} params: {where}: {first['msg']}") from None
