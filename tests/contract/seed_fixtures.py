"""The seeds' JSON examples kept as fixtures (``seed_examples/``), and where each one comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parent / "seed_examples"


def seed_example(name: str) -> dict[str, Any]:
    """One fixture: the seed, section and line it is from, what it is, and the example itself (``example``)."""
    return json.loads((EXAMPLES / name).read_text())
