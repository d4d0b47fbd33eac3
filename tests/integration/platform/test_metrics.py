"""What SREs scrape: prefixed metrics, conventional labels, process and GC collectors, lag, outbox,
dead letters; and the shipped alert rules and dashboard use only metrics a running service exposes."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from playbooks_contracts.topics import UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, eventually, produce, running_service

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "deploy/prometheus/alerts.yaml"
DASHBOARD = REPO / "deploy/grafana/playbooks-platform.json"
# Series names in PromQL: every one the deploy files use must be exposed (histograms by their suffixes).
SERIES = re.compile(r"\b((?:playbooks|process|python)_[a-z0-9_]+)\b")
PROMQL_FUNCTIONS = {"histogram_quantile", "rate", "increase", "sum", "max", "label_values"}


def exposed(text: str) -> set[str]:
    """Every series name a scrape can hold, from the families' declared types (also before a first sample)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        suffixes = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_sum", "_count", "_created"],
            "info": ["_info"],
            "gauge": [""],
        }
        names.update(family.name + s for s in suffixes.get(family.type, [""]))
    return names


def alert_expressions() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    assert rules and all({"alert", "expr", "labels", "annotations"} <= rule.keys() for rule in rules)
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules)
    return [rule["expr"] for rule in rules]


def dashboard_expressions() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["panels"]
    exprs = [t["expr"] for panel in doc["panels"] for t in panel["targets"]]
    exprs += [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_deploy_files_parse_and_their_promql_is_balanced() -> None:
    for expr in alert_expressions() + dashboard_expressions():
        depth = 0
        for char in expr:
            depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(char, 0)
            assert depth >= 0, expr
        assert depth == 0, expr
        assert SERIES.search(expr), f"no platform metric in {expr!r}"


@pytest.fixture(scope="module")
async def scrape(infra: Infra):
    """A running service with consumers and an outbox, after it handled and dead-lettered a message."""
    async with running_service("trigger-ingest", infra) as (ingest, ingest_rt, _):
        org = f"org-{uuid.uuid4().hex[:12]}"
        await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [{"orgId": org, "activity": {"type": "x"}}])
        await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, [b"{not json"], key=org)
        await eventually(
            lambda: (
                ingest_rt.metrics.total("playbooks_messages_dead_lettered_total") >= 1
                and ingest_rt.metrics.total("playbooks_consumer_lag_messages") >= 0
                and "playbooks_consumer_lag_messages{" in ingest_rt.metrics.render().decode()
            ),
            timeout=30,
        )
        await ingest.get("/healthz")
        ingest_text = (await ingest.get("/metrics")).text
    # API role: its relay runs (the outbox gauges), no consumer reads the shared topics' backlog and
    # leaves outbox rows behind for other tests' relays.
    async with running_service("condition-engine", infra, role="api") as (engine, _rt, _):
        engine_text = (await engine.get("/metrics")).text
    return ingest_text, engine_text


def test_every_metric_is_prefixed_and_the_collectors_are_there(scrape) -> None:
    ingest_text, _ = scrape
    families = {f.name: f for f in text_string_to_metric_families(ingest_text)}
    ours = {n for n in families if not n.startswith(("process_", "python_"))}
    assert ours and all(n.startswith("playbooks_") for n in ours), sorted(ours)
    assert {"process_resident_memory_bytes", "process_open_fds", "python_gc_collections", "python_info"} <= set(
        families
    )
    http = [s for s in families["playbooks_http_requests"].samples if s.name.endswith("_total")]
    assert any(s.labels == {"method": "GET", "route": "/healthz", "code": "200"} for s in http)
    assert families["playbooks_http_request_duration_seconds"].type == "histogram"


def test_dead_letters_and_lag_are_labelled_by_topic_group_and_partition(scrape) -> None:
    ingest_text, _ = scrape
    families = {f.name: f for f in text_string_to_metric_families(ingest_text)}
    [dead] = [
        s
        for s in families["playbooks_messages_dead_lettered"].samples
        if s.name.endswith("_total") and s.labels["topic"] == UPSTREAM_ACTIVITY_EVENTS.name
    ]
    assert dead.value >= 1 and dead.labels["group"].endswith("trigger-ingest.upstream")
    assert dead.labels["error_class"] == "PoisonMessage"
    lag = families["playbooks_consumer_lag_messages"].samples
    assert any(s.labels["topic"] == UPSTREAM_ACTIVITY_EVENTS.name and s.labels["partition"].isdigit() for s in lag)
    assert all(s.value >= 0 for s in lag)


def test_outbox_backlog_and_age_are_read_at_scrape(scrape) -> None:
    _, engine_text = scrape
    families = {f.name: f for f in text_string_to_metric_families(engine_text)}
    [rows] = families["playbooks_outbox_backlog_rows"].samples
    [age] = families["playbooks_outbox_oldest_age_seconds"].samples
    assert rows.labels == age.labels == {"schema": "condition_engine"}
    assert rows.value >= 0 and age.value >= 0


def test_alerts_and_dashboard_use_only_metrics_a_service_exposes(scrape) -> None:
    names = exposed(scrape[0]) | exposed(scrape[1])
    used = {m for expr in alert_expressions() + dashboard_expressions() for m in SERIES.findall(expr)}
    used -= PROMQL_FUNCTIONS
    missing = sorted(used - names)
    assert not missing, f"the deploy files query metrics no service exposes: {missing}"
    assert "playbooks_run_duration_seconds_bucket" in used and "playbooks_consumer_lag_messages" in used
