"""Patterns that users write (redaction rules, assertions, replay matchers) run on RE2.

Python's ``re`` backtracks: 23 characters of output against ``(a+)+$`` took about a second, and each
further character doubles it. RE2 matches in time linear in the text and refuses what it cannot do
that way (backreferences, lookaround), so a pattern is refused when a runbook or scenario is
validated, never discovered slow while a run holds a worker.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN_CHARS = 1000
# RE2's own memory budget per compiled pattern; a pattern over it is refused at compile time.
MAX_PATTERN_MEMORY = 8 << 20


class PatternError(ValueError):
    """A user pattern RE2 refuses, with the reason a person can act on."""


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False
    return options


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The RE2 form of ``pattern``, or :class:`PatternError` naming why it is refused."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern is {len(pattern)} characters, over the limit of {MAX_PATTERN_CHARS}")
    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"pattern {pattern[:80]!r} is not supported: {reason} (RE2: no backreferences or lookaround)"
        ) from None


def search(pattern: str, text: str) -> bool:
    """``re.search`` semantics (match anywhere), in linear time."""
    return compile_pattern(pattern).search(text) is not None


def fullmatch(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).fullmatch(text) is not None


def sub(pattern: str, replace: str, text: str) -> str:
    return str(compile_pattern(pattern).sub(replace, text))
