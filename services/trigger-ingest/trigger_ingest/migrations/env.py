"""Alembic environment of trigger-ingest."""

from playbooks_platform.migrations import run_env
from trigger_ingest.models import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
