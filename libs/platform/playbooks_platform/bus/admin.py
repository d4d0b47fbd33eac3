"""Creating topics from the registry (dev stack, tests, and the Kubernetes topic job)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from playbooks_contracts import ALL_TOPICS, Topic

log = logging.getLogger(__name__)


async def create_topics(bootstrap: str, topics: Iterable[Topic] = ALL_TOPICS, *, replication: int = 1) -> list[str]:
    """Create every missing topic and its dead-letter topic; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="playbooks-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted: list[NewTopic] = []
        for t in topics:
            if t.name not in existing:
                wanted.append(NewTopic(t.name, t.partitions, replication))
            if t.dlq not in existing:
                wanted.append(NewTopic(t.dlq, 1, replication))
        if wanted:
            response = await admin.create_topics(wanted)
            for name, code, message in response.topic_errors:
                if code not in (0, 36):  # 36: already exists (another process won the race)
                    raise RuntimeError(f"could not create topic {name}: error {code} {message}")
            log.info("created topics", extra={"topics": [w.name for w in wanted]})
        return [w.name for w in wanted]
    finally:
        await admin.close()
