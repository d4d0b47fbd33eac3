"""A bench's figures as one JSON object, so runs can be compared (issue 25, "Proof").

Each script in bench/ prints its figures beside a same-run baseline for people, and collects
the same numbers here under stable names; ``write`` puts them at the path in ``BENCH_JSON``
when that variable is set (and does nothing otherwise), as ``{"name": number, ...}``. It lives
in the platform library, not in bench/, because several benches keep their own folder off
``sys.path`` (their names shadow the service packages).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

ENV = "BENCH_JSON"


class Figures:
    """Named numbers; each name once (a repeated name is a bench bug, not a later figure)."""

    def __init__(self) -> None:
        self._values: dict[str, float | int] = {}

    def add(self, name: str, value: float | int) -> float | int:
        """Record ``value`` under ``name`` and return it (so a figure can be recorded where printed)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a figure needs a non-empty name")
        if name in self._values:
            raise ValueError(f"figure {name!r} recorded twice")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"figure {name!r} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"figure {name!r} is {value}; JSON has no such number")
        self._values[name] = value
        return value

    def update(self, values: Mapping[str, float | int]) -> None:
        for name, value in values.items():
            self.add(name, value)

    def as_dict(self) -> dict[str, float | int]:
        return dict(self._values)

    def write(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the figures to ``path`` (default: ``$BENCH_JSON``); None when neither is given.

        Written to a temporary file beside the target and renamed over it: a reader comparing
        runs never sees half an object, even if the bench is killed while writing.
        """
        target = path if path is not None else os.environ.get(ENV) or None
        if target is None:
            return None
        out = Path(target)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._values, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return out
