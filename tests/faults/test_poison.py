"""A poison message on every consumed topic of every installed service: dead-lettered with its
reason, and the partition keeps flowing past it."""

from __future__ import annotations

import uuid

import pytest

from playbooks_dev.testing import Infra, collect, eventually, produce, running_service
from playbooks_platform.service import installed_services, load_spec

CONSUMING = [name for name in installed_services() if load_spec(name).consumers]


@pytest.mark.parametrize("service", CONSUMING)
async def test_poison_is_dead_lettered_and_the_partition_flows(infra: Infra, service: str) -> None:
    spec = load_spec(service)
    key = f"poison-{uuid.uuid4().hex}"  # one key: both messages of a topic land on one partition, in order
    bodies = [b"\x00not json " + key.encode(), b"{}" + key.encode()]
    async with running_service(spec, infra) as (_, runtime, _):
        # This deployment's dead letters only: an agent another test keeps for the session (a session-scoped
        # fixture) consumes the same topics in groups of its own and dead-letters the same poison.
        ours = runtime.settings.consumer_group_prefix
        for consumer in spec.consumers:
            for topic in consumer.topics:
                await produce(infra.kafka_bootstrap, topic.name, bodies, key=key)
        for consumer in spec.consumers:
            for topic in consumer.topics:
                dead = await collect(
                    infra.kafka_bootstrap,
                    topic.dlq,
                    where=lambda r: r.key == key and r.headers.get("dlq.consumer_group", "").startswith(ours),
                    count=2,
                )
                # The second poison sat behind the first: both dead-lettered means nothing is stuck.
                assert [d.value for d in dead] == bodies, topic.name  # kept byte for byte, in order
                for d in dead:
                    assert d.headers["dlq.original_topic"] == topic.name
                    assert d.headers["dlq.consumer_group"] == runtime.settings.consumer_group_prefix + consumer.group
                    assert d.headers["dlq.error"]  # the reason, for whoever reads the dead letters

                def counted(name: str = topic.name) -> bool:
                    return runtime.metrics.total("playbooks_messages_dead_lettered_total", topic=name) >= 2

                await eventually(counted, timeout=10)
