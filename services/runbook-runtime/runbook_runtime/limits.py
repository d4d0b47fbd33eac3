"""The operator's ceilings on what one run may ask of the service, checked when the run is created.

The runbook format allows durations up to 24 h and 10 attempts; a deployment that serves many orgs
sets lower ceilings here (``PLAYBOOKS_MAX_*``). A run asking for more is refused with a 422 that
names the ceiling and the value, before anything is stored or executed.
"""

from __future__ import annotations

from dataclasses import dataclass

from playbooks_contracts.runbook import CliStep, Runbook
from playbooks_platform.errors import Invalid

from .scenario import GroupEntry, Scenario, ScenarioStep, bounded_text
from .settings import RunbookRuntimeSettings


@dataclass(frozen=True)
class Limits:
    step_timeout: float = 600
    retry_attempts: int = 5
    retry_delay: float = 60
    replay_delay: float = 60
    steps: int = 200
    snapshots: int = 200
    scenario_output_bytes: int = 1024 * 1024
    advance_seconds: float = 900

    @classmethod
    def of(cls, settings: RunbookRuntimeSettings) -> Limits:
        return cls(
            step_timeout=settings.max_step_timeout_seconds,
            retry_attempts=settings.max_retry_attempts,
            retry_delay=settings.max_retry_delay_seconds,
            replay_delay=settings.max_replay_delay_seconds,
            steps=settings.max_steps,
            snapshots=settings.max_snapshots_per_run,
            scenario_output_bytes=settings.max_scenario_output_bytes,
            advance_seconds=settings.max_advance_seconds,
        )

    def worst_step_seconds(self) -> float:
        """How long one CLI step can take at most under these ceilings (every attempt, every wait)."""
        return (
            self.retry_attempts * (self.step_timeout + self.replay_delay) + (self.retry_attempts - 1) * self.retry_delay
        )

    def lease_seconds(self) -> float:
        """How long an advance may hold its claim on a run: it starts no step past ``advance_seconds``."""
        return self.advance_seconds + self.worst_step_seconds() + 60


def _over(what: str, value: float, ceiling: float, setting: str) -> Invalid:
    return Invalid(f"{what} is {value:g}, over this service's ceiling of {ceiling:g} (PLAYBOOKS_{setting.upper()})")


def check(runbook: Runbook, scenario: Scenario | None, limits: Limits) -> None:
    """Refuse a run whose runbook or scenario asks for more than the operator allows."""
    steps = runbook.leaf_steps()
    if len(steps) > limits.steps:
        raise _over("the number of steps", len(steps), limits.steps, "max_steps")
    default = runbook.meta.governance.default_timeout
    if default > limits.step_timeout:
        raise _over("meta.governance.default_timeout (s)", default, limits.step_timeout, "max_step_timeout_seconds")
    for step in steps:
        if not isinstance(step, CliStep):
            continue
        if step.timeout is not None and step.timeout > limits.step_timeout:
            raise _over(f"step {step.id}: timeout (s)", step.timeout, limits.step_timeout, "max_step_timeout_seconds")
        if step.retry.attempts > limits.retry_attempts:
            raise _over(
                f"step {step.id}: retry.attempts", step.retry.attempts, limits.retry_attempts, "max_retry_attempts"
            )
        if step.retry.attempts > 1 and step.retry.delay > limits.retry_delay:
            raise _over(
                f"step {step.id}: retry.delay (s)", step.retry.delay, limits.retry_delay, "max_retry_delay_seconds"
            )
    if scenario is not None:
        for where, s in _scenario_steps(scenario):
            if s.respond.delay is not None and s.respond.delay > limits.replay_delay:
                raise _over(
                    f"scenario {where}: respond.delay (s)",
                    s.respond.delay,
                    limits.replay_delay,
                    "max_replay_delay_seconds",
                )


def _scenario_steps(scenario: Scenario) -> list[tuple[str, ScenarioStep]]:
    out: list[tuple[str, ScenarioStep]] = []
    for i, entry in enumerate(scenario.steps):
        if isinstance(entry, GroupEntry):
            out += [(f"steps[{i}].group.steps[{j}]", s) for j, s in enumerate(entry.group.steps)]
        else:
            out.append((f"steps[{i}]", entry))
    return out


__all__ = ["Limits", "bounded_text", "check"]
