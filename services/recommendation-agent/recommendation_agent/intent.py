"""Intent of a request: deterministic rules over a synonym lexicon (default), or a validated LLM answer.

"turn off" = "shutdown" = "stop"; "weekend" implies cost optimisation; "production" implies a
snapshot first. The LLM path asks an OpenAI-compatible chat endpoint for the same structure; an
answer that is late, not JSON or not valid against ``Intent`` is dropped for the rules' answer.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from playbooks_contracts.recommendation import Intent
from playbooks_platform.llm import LlmEndpoint, LlmFailed, chat_json

log = logging.getLogger(__name__)

# action -> phrases that mean it
ACTIONS: dict[str, tuple[str, ...]] = {
    "stop": (
        "stop",
        "shut down",
        "shutdown",
        "shut off",
        "turn off",
        "power off",
        "switch off",
        "halt",
        "kill",
        "deallocate",
        "pause",
        "suspend",
        "sleep",
        "idle",
    ),
    "start": ("start", "turn on", "power on", "switch on", "boot", "resume", "wake", "bring back"),
    "scale": (
        "scale",
        "resize",
        "rightsize",
        "right-size",
        "right size",
        "downsize",
        "upsize",
        "capacity",
        "replicas",
        "node count",
        "more nodes",
        "fewer nodes",
        "bigger",
        "smaller",
        "instance type",
        "instance class",
        "tier",
    ),
    "backup": (
        "backup",
        "back up",
        "snapshot",
        "export",
        "dump",
        "bacpac",
        "copy for dr",
        "disaster recovery",
        "velero",
    ),
    "delete": (
        "delete",
        "remove",
        "clean up",
        "cleanup",
        "purge",
        "release",
        "get rid of",
        "orphaned",
        "unattached",
        "unused",
        "dead",
    ),
    "upgrade": ("upgrade", "new version", "version bump", "end of support", "patch release", "security bulletin"),
    "restart": ("restart", "reboot", "bounce", "recycle", "reload", "stuck"),
    "rollback": (
        "rollback",
        "roll back",
        "revert",
        "undo",
        "bad release",
        "bad deploy",
        "previous version",
        "new release",
        "go back",
        "old one",
        "old version",
        "last good",
    ),
    "secure": (
        "public access",
        "block public",
        "lock down",
        "lockdown",
        "encrypt",
        "encryption",
        "exposed",
        "exposure",
        "anonymous",
        "harden",
        "private",
    ),
    "rotate": ("rotate", "rotation", "leaked", "renew", "expiring", "expire", "expired"),
    "drain": ("drain", "cordon", "evict", "take out of service", "out of the cluster", "out of rotation"),
    "throttle": ("throttle", "concurrency", "runaway", "recursive loop", "disable function"),
    "archive": ("lifecycle", "glacier", "cold storage", "archive", "retention", "tiering"),
    "schedule": ("schedule", "office hours", "working hours", "business hours", "off-hours", "off hours"),
    "diagnose": ("troubleshoot", "diagnose", "investigate", "debug", "root cause", "why is", "not ready", "notready"),
}

# phrase -> (resource family, provider or None)
RESOURCES: dict[str, tuple[str, str | None]] = {
    "rds": ("database", "aws"),
    "aurora": ("database", "aws"),
    "cloud sql": ("database", "gcp"),
    "cloudsql": ("database", "gcp"),
    "azure sql": ("database", "azure"),
    "sql database": ("database", None),
    "database": ("database", None),
    "db": ("database", None),
    "postgres": ("database", None),
    "mysql": ("database", None),
    "ec2": ("compute", "aws"),
    "compute engine": ("compute", "gcp"),
    "gce": ("compute", "gcp"),
    "vm": ("compute", None),
    "vms": ("compute", None),
    "virtual machine": ("compute", None),
    "virtual machines": ("compute", None),
    "server": ("compute", None),
    "servers": ("compute", None),
    "instance": ("compute", None),
    "instances": ("compute", None),
    "box": ("compute", None),
    "s3": ("bucket", "aws"),
    "gcs": ("bucket", "gcp"),
    "cloud storage": ("bucket", "gcp"),
    "bucket": ("bucket", None),
    "buckets": ("bucket", None),
    "blob": ("bucket", "azure"),
    "storage account": ("bucket", "azure"),
    "eks": ("k8s-cluster", "aws"),
    "aks": ("k8s-cluster", "azure"),
    "gke": ("k8s-cluster", "gcp"),
    "cluster": ("k8s-cluster", None),
    "node group": ("nodepool", None),
    "nodegroup": ("nodepool", None),
    "node pool": ("nodepool", None),
    "nodepool": ("nodepool", None),
    "nodes": ("nodepool", None),
    "lambda": ("function", "aws"),
    "function": ("function", None),
    "serverless": ("function", None),
    "deployment": ("deployment", "kubernetes"),
    "pods": ("pod", "kubernetes"),
    "pod": ("pod", "kubernetes"),
    "node": ("node", "kubernetes"),
    "namespace": ("namespace", "kubernetes"),
    "worker node": ("node", "kubernetes"),
    "worker machine": ("node", "kubernetes"),
    "ebs": ("disk", "aws"),
    "volume": ("disk", None),
    "volumes": ("disk", None),
    "disk": ("disk", None),
    "disks": ("disk", None),
    "persistent disk": ("disk", "gcp"),
    "managed disk": ("disk", "azure"),
    "elastic ip": ("ip", "aws"),
    "eip": ("ip", "aws"),
    "ip address": ("ip", None),
    "ip addresses": ("ip", None),
    "elastic ips": ("ip", "aws"),
    "eips": ("ip", "aws"),
    "public ip": ("ip", None),
    "public ips": ("ip", None),
    "log group": ("logs", None),
    "logs": ("logs", None),
    "cloudwatch": ("logs", "aws"),
    "certificate": ("certificate", None),
    "cert": ("certificate", None),
    "tls": ("certificate", None),
    "ssl": ("certificate", None),
    "access key": ("credentials", "aws"),
    "iam": ("credentials", "aws"),
    "credentials": ("credentials", None),
    "auto scaling group": ("asg", "aws"),
    "autoscaling group": ("asg", "aws"),
    "asg": ("asg", "aws"),
    "fleet": ("asg", None),
}

# resource family -> concrete resource types of the library vocabulary, per provider
FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    "database": {"aws": ("rds::instance",), "azure": ("azure::sql-database",), "gcp": ("gcp::cloudsql-instance",)},
    "compute": {"aws": ("ec2::instance",), "azure": ("azure::vm",), "gcp": ("gcp::compute-instance",)},
    "bucket": {"aws": ("s3::bucket",), "azure": ("azure::storage-account",), "gcp": ("gcp::gcs-bucket",)},
    "k8s-cluster": {"aws": ("eks::cluster",), "azure": ("azure::aks-cluster",), "gcp": ("gcp::gke-cluster",)},
    "nodepool": {
        "aws": ("eks::nodegroup",),
        "azure": ("azure::aks-nodepool",),
        "gcp": ("gcp::gke-nodepool",),
        "kubernetes": ("k8s::node",),
    },
    "function": {"aws": ("lambda::function",)},
    "deployment": {"kubernetes": ("k8s::deployment",)},
    "pod": {"kubernetes": ("k8s::pod",)},
    "node": {"kubernetes": ("k8s::node",)},
    "namespace": {"kubernetes": ("k8s::namespace", "k8s::pvc")},
    "disk": {"aws": ("ec2::volume",), "azure": ("azure::disk",), "gcp": ("gcp::disk",)},
    "ip": {"aws": ("ec2::elastic-ip",)},
    "logs": {"aws": ("logs::log-group",)},
    "certificate": {"kubernetes": ("k8s::certificate",)},
    "credentials": {"aws": ("iam::user",)},
    "asg": {"aws": ("autoscaling::group",)},
}

PROVIDERS: dict[str, str] = {
    "aws": "aws",
    "amazon": "aws",
    "azure": "azure",
    "microsoft": "azure",
    "gcp": "gcp",
    "google": "gcp",
    "google cloud": "gcp",
    "kubernetes": "kubernetes",
    "k8s": "kubernetes",
    "kubectl": "kubernetes",
}

# Clouds and platforms the library has no playbooks for: a request naming one is told so, not given look-alikes.
OTHER_CLOUDS: dict[str, str] = {
    "oracle cloud": "Oracle Cloud",
    "oci": "Oracle Cloud",
    "alibaba": "Alibaba Cloud",
    "alibaba cloud": "Alibaba Cloud",
    "aliyun": "Alibaba Cloud",
    "ibm cloud": "IBM Cloud",
    "digitalocean": "DigitalOcean",
    "digital ocean": "DigitalOcean",
    "droplet": "DigitalOcean",
    "droplets": "DigitalOcean",
    "linode": "Linode",
    "hetzner": "Hetzner",
    "ovh": "OVHcloud",
    "ovhcloud": "OVHcloud",
    "scaleway": "Scaleway",
    "openstack": "OpenStack",
    "vsphere": "VMware vSphere",
    "vmware": "VMware vSphere",
    "esxi": "VMware vSphere",
    "tencent cloud": "Tencent Cloud",
    "huawei cloud": "Huawei Cloud",
    "proxmox": "Proxmox",
    "heroku": "Heroku",
}

# Resource families that run and can be stopped; anything else that is "idle" is unused, and is released.
STOPPABLE = frozenset(
    {"compute", "database", "k8s-cluster", "nodepool", "asg", "deployment", "function", "pod", "node"}
)

ENVIRONMENTS: dict[str, str] = {
    "production": "production",
    "prod": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "dev": "development",
    "development": "development",
    "test": "test",
    "testing": "test",
    "qa": "test",
    "sandbox": "sandbox",
    "non-production": "non-production",
    "nonprod": "non-production",
    "non-prod": "non-production",
}

TIMES: dict[str, str] = {
    "weekend": "weekend",
    "weekends": "weekend",
    "saturday": "weekend",
    "sunday": "weekend",
    "night": "night",
    "nightly": "night",
    "overnight": "night",
    "evening": "night",
    "after hours": "night",
    "off-hours": "night",
    "off hours": "night",
    "holiday": "holiday",
    "holidays": "holiday",
    "morning": "morning",
    "monday": "morning",
    "now": "now",
    "urgent": "now",
    "asap": "now",
    "immediately": "now",
}

CATEGORIES: dict[str, str] = {
    "cost": "cost-optimization",
    "save money": "cost-optimization",
    "saving": "cost-optimization",
    "savings": "cost-optimization",
    "cheaper": "cost-optimization",
    "bill": "cost-optimization",
    "spend": "cost-optimization",
    "backup": "backup",
    "back up": "backup",
    "snapshot": "backup",
    "disaster recovery": "backup",
    "security": "security",
    "public": "security",
    "exposed": "security",
    "leaked": "security",
    "compliance": "security",
    "encrypt": "security",
    "upgrade": "maintenance",
    "maintenance": "maintenance",
    "patch": "maintenance",
    "incident": "incident-response",
    "outage": "incident-response",
    "errors": "incident-response",
    "rollback": "incident-response",
    "runaway": "incident-response",
    "slow": "performance",
    "performance": "performance",
    "cpu": "performance",
    "memory": "performance",
    "schedule": "scheduling",
}

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "for",
        "of",
        "to",
        "in",
        "on",
        "at",
        "my",
        "our",
        "we",
        "i",
        "me",
        "please",
        "with",
        "from",
        "over",
        "during",
        "all",
        "any",
        "by",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "which",
        "who",
        "how",
        "what",
        "when",
        "can",
        "could",
        "should",
        "would",
        "need",
        "want",
        "some",
        "every",
        "each",
    ]
)


@lru_cache(maxsize=4096)
def _pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])")


@lru_cache(maxsize=64)
def _longest_first(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(phrases, key=len, reverse=True))


def _find(text: str, phrases: dict[str, Any] | tuple[str, ...]) -> list[str]:
    """Phrases present as whole words, longest first, each span of text used once."""
    found: list[str] = []
    taken = text
    for phrase in _longest_first(tuple(phrases)):
        if phrase in taken:  # cheap pre-check before the word-boundary regex
            pattern = _pattern(phrase)
            if pattern.search(taken):
                found.append(phrase)
                taken = pattern.sub(" ", taken)
    return found


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9:.\-]+", " ", text.lower()).split())


@lru_cache(maxsize=65_536)
def actions_in(text: str) -> tuple[str, ...]:
    """Canonical actions a text mentions, in order of the lexicon."""
    text = normalise(text)
    return tuple(action for action, phrases in ACTIONS.items() if _find(text, phrases))


_CONTEXT = re.compile(r"\b(?:before|after|during|ahead of)\b[^,;.]*")


def requested_actions(text: str) -> tuple[str, ...]:
    """The actions a request asks for: words in a "before/after ..." clause are its context, not its ask
    ("backup a namespace with velero before the upgrade" asks for a backup); all of them when that leaves none."""
    text = normalise(text)
    return actions_in(_CONTEXT.sub(" ", text)) or actions_in(text)


# "stop" beats "schedule" and "delete" ("stop idle" is not a deletion); the first specific action wins.
_ACTION_PRECEDENCE = (
    "rollback",
    "throttle",
    "drain",
    "rotate",
    "secure",
    "archive",
    "upgrade",
    "backup",
    "restart",
    "scale",
    "start",
    "stop",
    "delete",
    "schedule",
    "diagnose",
)
# the category a request has when none of its words names one
_CATEGORY_OF_ACTION = {
    "backup": "backup",
    "secure": "security",
    "rotate": "security",
    "upgrade": "maintenance",
    "rollback": "incident-response",
    "throttle": "incident-response",
    "drain": "maintenance",
    "archive": "cost-optimization",
    "delete": "cost-optimization",
}


def rules_intent(query: str) -> Intent:
    text = normalise(query)
    providers, families = _providers_and_families(text)
    action = _action(text, requested_actions(text), families)
    cloud = [p for p in providers if p != "kubernetes"]
    other_clouds = list(dict.fromkeys(OTHER_CLOUDS[p] for p in _find(text, OTHER_CLOUDS)))
    resource_types: list[str] = []
    for family in families:
        for provider, types in FAMILIES.get(family, {}).items():
            if not cloud or provider in cloud or provider == "kubernetes":
                resource_types.extend(t for t in types if t not in resource_types)
    environment = next((ENVIRONMENTS[p] for p in _find(text, ENVIRONMENTS)), None)
    time_context = next((TIMES[p] for p in _find(text, TIMES)), None)
    category = next((CATEGORIES[p] for p in _find(text, CATEGORIES)), None)
    implies: list[str] = []
    if time_context in ("weekend", "night", "holiday") or (action == "stop" and environment != "production"):
        category = category or "cost-optimization"
        if time_context:
            implies.append("cost optimisation: schedule the matching start afterwards")
    if environment == "production":
        implies.append("snapshot first: production data must be backed up before a disruptive change")
    if category is None:
        category = _CATEGORY_OF_ACTION.get(action or "")
    keywords = [w for w in text.split() if w not in STOPWORDS and len(w) > 1]
    return Intent(
        action=action,
        cloud_provider=[p for p in providers if p in ("aws", "azure", "gcp", "kubernetes")],  # type: ignore[misc]
        resource_types=resource_types,
        environment=environment,
        category=category,
        time_context=time_context,
        keywords=keywords,
        implies=implies,
        other_clouds=other_clouds,
        parser="rules",
    )


def _providers_and_families(text: str) -> tuple[list[str], list[str]]:
    """The providers a text names (a resource's own provider too, Kubernetes aside) and its resource families."""
    providers: list[str] = []
    for phrase in _find(text, PROVIDERS):
        if PROVIDERS[phrase] not in providers:
            providers.append(PROVIDERS[phrase])
    families: list[str] = []
    for phrase in _find(text, RESOURCES):
        family, provider = RESOURCES[phrase]
        if family not in families:
            families.append(family)
        if provider and provider not in providers and provider != "kubernetes":
            providers.append(provider)
    return providers, families


def _action(text: str, actions: tuple[str, ...], families: list[str]) -> str | None:
    """The one action a request asks for, read with the resources it names."""
    action = next((a for a in _ACTION_PRECEDENCE if a in actions), None)
    if action == "start" and "stop" in actions:
        action = "stop"
    if action == "stop" and families and not set(families) & STOPPABLE and _find(text, ACTIONS["stop"]) == ["idle"]:
        # "idle" means stop only for what runs; an idle IP, disk or bucket is released (ip addresses sitting idle)
        action = "delete"
    if action == "rotate" and "logs" in families and not _find(text, ("rotate", "rotation", "leaked", "renew")):
        # logs that "expire" are kept for a retention period, not rotated like a key
        action = "archive"
    return action


INTENT_PROMPT = """You turn a cloud-operations request into a JSON object with exactly these keys:
action (one of: stop, start, scale, backup, delete, upgrade, restart, rollback, secure, rotate, drain, throttle,
archive, schedule, diagnose, or null), cloud_provider (list of: aws, azure, gcp, kubernetes), resource_types (list
of strings like rds::instance, ec2::instance, s3::bucket, eks::cluster, azure::vm, gcp::compute-instance,
k8s::deployment),
environment (production, staging, development, test or null), category (cost-optimization, backup, security,
maintenance, incident-response, performance, scheduling or null), time_context (weekend, night, holiday,
morning, now or null), keywords (list of important words), implies (list of short notes).
Answer with the JSON object only."""


async def llm_intent(query: str, *, url: str, model: str, api_key: str | None, timeout_s: float) -> Intent | None:
    """Ask an OpenAI-compatible chat endpoint; None when it fails, is late, or answers invalid JSON."""
    endpoint = LlmEndpoint(url=url, model=model, api_key=api_key, timeout_s=timeout_s, max_answer_bytes=64 * 1024)
    try:
        data = await chat_json(endpoint, INTENT_PROMPT, query)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        data["parser"] = "llm"
        return Intent.model_validate(data)
    except (LlmFailed, ValueError, ValidationError) as exc:
        log.warning("LLM intent refused; using the rules", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return None


async def parse_intent(query: str, settings: Any) -> Intent:
    """The rules' intent, or the LLM's when one is configured and answers validly in time."""
    rules = rules_intent(query)
    if not settings.llm_url:
        return rules
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    answer = await llm_intent(
        query, url=settings.llm_url, model=settings.llm_model, api_key=key, timeout_s=settings.llm_timeout_s
    )
    if answer is None:
        return rules
    # Keywords and the clouds the library lacks always come from the text itself: the ranking's keyword fit and
    # the "nothing matches" notice must not depend on the LLM.
    return answer.model_copy(update={"keywords": rules.keywords, "other_clouds": rules.other_clouds})
