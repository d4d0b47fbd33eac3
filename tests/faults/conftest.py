"""``make faults`` shows a progress bar (which fault test, how many done, time so far) at a terminal.

The fault tests run for minutes with ``-s`` (their figures print as they go); the bar is the
shared one of ``playbooks_platform.progress``, drawn on stderr and only at a terminal, so a log or
CI sees pytest's own output alone. Under capture (a plain ``pytest`` run) stderr is no terminal
and nothing is drawn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from playbooks_platform.progress import progress

_bar: contextlib.ExitStack | None = None
_advance: Callable[[str], None] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _bar, _advance
    if not session.items or session.config.getoption("capture") != "no":
        return
    _bar = contextlib.ExitStack()
    _advance = _bar.enter_context(progress(len(session.items), "faults"))


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if _advance is not None:
        _advance(location[2])


def pytest_unconfigure(config: pytest.Config) -> None:
    global _bar, _advance
    if _bar is not None:
        _bar.close()
    _bar = _advance = None
