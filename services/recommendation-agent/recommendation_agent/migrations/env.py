"""Alembic environment of recommendation-agent."""

from playbooks_platform.migrations import run_env
from recommendation_agent.models import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
