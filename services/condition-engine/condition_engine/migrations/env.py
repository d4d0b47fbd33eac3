"""Alembic environment of condition-engine."""

from condition_engine.models import SCHEMA, metadata
from playbooks_platform.migrations import run_env

run_env(schema=SCHEMA, target_metadata=metadata)
