"""Alembic environment of runbook-runtime."""

from playbooks_platform.migrations import run_env
from runbook_runtime.models import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
