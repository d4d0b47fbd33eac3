"""Alembic, once for every service: each service keeps its own ``migrations/`` folder and
version table in its own schema; this module runs them and gives them their shared helpers."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from .db import APP_ROLE

log = logging.getLogger(__name__)


def alembic_config(package: str, url: str) -> Config:
    """An Alembic config for the ``migrations`` folder of a service package."""
    module = importlib.import_module(package)
    assert module.__file__ is not None
    folder = Path(module.__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.attributes["url"] = url
    return cfg


def upgrade(packages: Iterable[str], url: str, *, on_done: Callable[[str], None] | None = None) -> None:
    """Bring every given service schema to its latest revision (safe to run again).

    ``on_done(package)`` is called after each one (a progress bar)."""
    asyncio.run(_bootstrap(url))
    for package in packages:
        log.info("migrating", extra={"package": package})
        command.upgrade(alembic_config(package, url), "head")
        if on_done is not None:
            on_done(package)


async def _bootstrap(url: str) -> None:
    """The role row-level security policies are written for (created once per cluster)."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        )
    await engine.dispose()


def run_env(*, schema: str, target_metadata: MetaData | None = None) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.attributes.get("url")
    if url is None:
        from .settings import PlatformSettings

        url = PlatformSettings().async_database_url

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            grant_app_role(schema, connection)

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run_async())


def grant_app_role(schema: str, connection: Connection) -> None:
    """Let the tenant role use whatever tables the migrations created (RLS still applies)."""
    connection.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {APP_ROLE}'))
    connection.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {APP_ROLE}'))
    connection.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {APP_ROLE}'))


# -- helpers for migration scripts -------------------------------------------------------


def enable_tenant_rls(schema: str, table: str, column: str = "org_id") -> None:
    """Row-level security: the tenant role sees and writes only rows of ``app.org_id``."""
    qualified = f'"{schema}"."{table}"'
    op.execute(text(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY"))
    op.execute(
        text(
            f"CREATE POLICY tenant_isolation ON {qualified} TO {APP_ROLE} "
            f"USING ({column}::text = current_setting('app.org_id', true)) "
            f"WITH CHECK ({column}::text = current_setting('app.org_id', true))"
        )
    )


def create_outbox(schema: str) -> None:
    """The transactional outbox of a service: rows committed with business data, relayed to Kafka."""
    op.execute(
        text(
            f'CREATE TABLE "{schema}".outbox ('
            " id bigserial PRIMARY KEY,"
            " topic text NOT NULL,"
            " key text,"
            " payload jsonb NOT NULL,"
            " headers jsonb NOT NULL DEFAULT '{}'::jsonb,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    )


def drop_outbox(schema: str) -> None:
    """Undo ``create_outbox`` (a downgrade's first step: its rows refer to nothing else)."""
    op.execute(text(f'DROP TABLE IF EXISTS "{schema}".outbox'))


def add_outbox_batches(schema: str) -> None:
    """Let an outbox row carry a whole batch of messages, packed (see ``outbox.stage_batch``).

    A row is then either one message (topic, payload) or a batch; the relay sends both in id order.
    Stored as it is: the packed JSON is compressed by nobody, so a commit costs no TOAST compression.
    """
    table = f'"{schema}".outbox'
    op.execute(text(f"ALTER TABLE {table} ADD COLUMN batch bytea"))
    op.execute(text(f"ALTER TABLE {table} ALTER COLUMN batch SET STORAGE EXTERNAL"))
    op.execute(text(f"ALTER TABLE {table} ALTER COLUMN topic DROP NOT NULL, ALTER COLUMN payload DROP NOT NULL"))
    op.execute(
        text(f"ALTER TABLE {table} ADD CONSTRAINT ck_outbox_one_form CHECK ((batch IS NULL) <> (topic IS NULL))")
    )


def drop_outbox_batches(schema: str) -> None:
    """Undo ``add_outbox_batches``; refuses while batch rows are still waiting to be relayed."""
    table = f'"{schema}".outbox'
    op.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT ck_outbox_one_form"))
    op.execute(text(f"ALTER TABLE {table} ALTER COLUMN topic SET NOT NULL, ALTER COLUMN payload SET NOT NULL"))
    op.execute(text(f"ALTER TABLE {table} DROP COLUMN batch"))


def rewrite_json(schema: str, table: str, key: str, column: str, convert: Callable[[Any], Any], where: str = "") -> int:
    """A data migration: each row's JSON ``column`` replaced by ``convert(value)`` where that changes
    it (rows read in pages by ``key``, so a large table is never held whole). Returns the rows changed."""
    conn = op.get_bind()
    changed, last = 0, None
    filters = f"AND ({where})" if where else ""
    while True:
        rows = conn.execute(
            text(
                f"SELECT {key} AS k, {column} AS v FROM {schema}.{table} "
                f"WHERE (CAST(:last AS text) IS NULL OR {key}::text > :last) {filters} ORDER BY {key}::text LIMIT 500"
            ),
            {"last": last},
        ).all()
        if not rows:
            return changed
        for row in rows:
            value = json.loads(row.v) if isinstance(row.v, str) else row.v
            new = convert(value)
            if new != value:
                conn.execute(
                    text(f"UPDATE {schema}.{table} SET {column} = CAST(:v AS jsonb) WHERE {key} = :k"),
                    {"v": json.dumps(new), "k": row.k},
                )
                changed += 1
        last = str(rows[-1].k)
