"""Wire contracts of the playbook platform. No I/O lives here."""

from .base import OrgId, StrictModel, WireModel, utcnow
from .envelope import MAX_CAUSATION_DEPTH, Envelope, derived_id
from .topics import ALL_TOPICS, Topic, topic

__all__ = [
    "ALL_TOPICS",
    "MAX_CAUSATION_DEPTH",
    "Envelope",
    "OrgId",
    "StrictModel",
    "Topic",
    "WireModel",
    "derived_id",
    "topic",
    "utcnow",
]
