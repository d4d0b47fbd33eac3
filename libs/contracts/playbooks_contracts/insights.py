"""Runs per day: what a service answers for a chart of its runs over the last 7 or 30 days.

condition-engine (playbook runs) and runbook-runtime (runbook runs) answer the same shape, counted
in the database: a chart never pages through the runs themselves, however many there are.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from .base import UtcDatetime

Window = Literal["7d", "30d"]
WINDOW_DAYS: dict[str, int] = {"7d": 7, "30d": 30}


class DayCounts(BaseModel):
    day: date = Field(description="A UTC day.")
    counts: dict[str, int] = Field(
        description="Runs created that day, by their status now; statuses with none left out."
    )
    total: int


class DailyRuns(BaseModel):
    """Every day of the window, oldest first, the last one today (UTC); days without runs included."""

    window: Window
    since: UtcDatetime = Field(description="Midnight UTC of the first day.")
    days: list[DayCounts]
    total: int


__all__ = ["WINDOW_DAYS", "DailyRuns", "DayCounts", "Window"]
