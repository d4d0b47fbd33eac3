"""Where a run looks for artifacts that already exist, and registers the ones it creates.

The engine first looks in its own bundle (an artifact made earlier in the same run), then in a
registry: the org's ``artifacts`` table in the service (row-level security like every table), a
file beside the run folders for the local CLI. A replay run is given no registry: it made nothing
real, so it registers nothing, and it does not read what real runs made either, so replaying a
recording gives the same outcome whatever the org has created since.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from .state import Artifact

# The local CLI's registry file, in ``<root>/runs/`` beside the run folders.
ARTIFACTS_FILE = "artifacts.jsonl"


class ArtifactRegistry(Protocol):
    def find(self, signature: str) -> Artifact | None:
        """The artifact with this signature, created by any run of the org, or None."""

    def register(self, artifact: Artifact) -> None:
        """Keep a created artifact (the first run to register a signature keeps it)."""


class MemoryRegistry:
    """Artifacts in a dict: tests, and engines that share one registry in a process."""

    def __init__(self) -> None:
        self.items: dict[str, Artifact] = {}

    def find(self, signature: str) -> Artifact | None:
        return self.items.get(signature)

    def register(self, artifact: Artifact) -> None:
        self.items.setdefault(artifact.signature, artifact)


class FileRegistry:
    """The local CLI's registry: ``<root>/runs/artifacts.jsonl``, beside the run folders.

    One JSON line per created artifact, appended with ``O_APPEND`` (a line is written whole, so two
    local runs appending at once do not interleave); the first line with a signature wins on read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def find(self, signature: str) -> Artifact | None:
        try:
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a crash: the others still count
                    if isinstance(record, dict) and record.get("signature") == signature:
                        return Artifact.model_validate(record)
        except FileNotFoundError:
            return None
        return None

    def register(self, artifact: Artifact) -> None:
        if self.find(artifact.signature) is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (artifact.model_dump_json() + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
