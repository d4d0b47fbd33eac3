"""Prometheus metrics of one process, exposed on ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The counters the platform keeps for every service; a service may register more."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.http_requests = Counter(
            "http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        ).labels
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["route"], registry=self.registry
        ).labels
        self.consumed = Counter("bus_consumed", "Messages handled", ["topic"], registry=self.registry).labels
        self.failed = Counter("bus_failed", "Handler failures (each try)", ["topic"], registry=self.registry).labels
        self.dead_lettered = Counter(
            "bus_dead_lettered", "Messages sent to a dead-letter topic", ["topic"], registry=self.registry
        ).labels
        self.published = Counter("bus_published", "Messages published", ["topic"], registry=self.registry).labels
        self.service = labels["service"]

    def render(self) -> bytes:
        return generate_latest(self.registry)
