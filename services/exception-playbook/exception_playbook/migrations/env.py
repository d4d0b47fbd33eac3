"""Alembic environment of exception-playbook."""

from exception_playbook.models import SCHEMA, metadata
from playbooks_platform.migrations import run_env

run_env(schema=SCHEMA, target_metadata=metadata)
