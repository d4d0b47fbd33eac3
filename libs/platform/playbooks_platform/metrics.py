"""Prometheus metrics of one process, exposed on ``/metrics``.

Every metric is named ``playbooks_<what>_<unit>`` (counters end in ``_total``), with the
labels people already write queries for: ``method``, ``route``, ``code`` on HTTP; ``topic``,
``group``, ``partition`` on the bus. The service itself is not a label: Prometheus adds the
scrape target's ``job`` and ``instance``. The process and GC collectors are registered too
(``process_*``, ``python_gc_*``), so memory, file descriptors and CPU need no exporter.
``deploy/prometheus/`` holds alert rules and ``deploy/grafana/`` a dashboard on these names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

PREFIX = "playbooks_"
# HTTP requests are mostly milliseconds; a run of a runbook can take minutes (manual steps aside).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RUN_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)


class Metrics:
    """The metrics the platform keeps for every service; a service may register more on ``registry``."""

    def __init__(self, service: str, version: str = "") -> None:
        self.registry = registry = CollectorRegistry()
        self.service = service
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        PlatformCollector(registry=registry)
        Info(f"{PREFIX}service", "The service this process runs", registry=registry).info(
            {"service": service, "version": version}
        )
        self.http_requests = Counter(
            f"{PREFIX}http_requests",
            "HTTP requests answered",
            ["method", "route", "code"],
            registry=registry,
        ).labels
        self.http_latency = Histogram(
            f"{PREFIX}http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        ).labels
        self.consumed = Counter(
            f"{PREFIX}messages_consumed", "Messages handled", ["topic", "group"], registry=registry
        ).labels
        self.failed = Counter(
            f"{PREFIX}handler_failures",
            "Handler failures (each try of a batch or message)",
            ["topic", "group"],
            registry=registry,
        ).labels
        self.dead_lettered = Counter(
            f"{PREFIX}messages_dead_lettered",
            "Messages sent to the topic's dead-letter topic, by the topic they came from",
            ["topic", "group", "error_class"],
            registry=registry,
        ).labels
        self.published = Counter(
            f"{PREFIX}messages_published", "Messages published", ["topic"], registry=registry
        ).labels
        self.consumer_lag = Gauge(
            f"{PREFIX}consumer_lag_messages",
            "Messages in a partition not yet handled by the group (high watermark minus the next offset)",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            f"{PREFIX}outbox_backlog_rows",
            "Outbox rows committed but not yet relayed (a row may pack many messages)",
            ["schema"],
            registry=registry,
        ).labels
        self.outbox_age = Gauge(
            f"{PREFIX}outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet relayed (0 when empty)",
            ["schema"],
            registry=registry,
        ).labels
        self.run_duration = Histogram(
            f"{PREFIX}run_duration_seconds",
            "Runs from start to their outcome, by mode and outcome",
            ["kind", "mode", "status"],
            buckets=RUN_BUCKETS,
            registry=registry,
        ).labels

    def total(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include ``labels`` (tests, benches)."""
        return sum(
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
