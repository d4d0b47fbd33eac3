"""The Kafka bus: a publisher, a consumer runner with retries and dead-lettering, topic admin."""

from .admin import create_topics
from .consumer import ConsumerRunner, Delivery
from .publisher import EncodedMessage, OutgoingMessage, Publisher, WireHeaders

__all__ = [
    "ConsumerRunner",
    "Delivery",
    "EncodedMessage",
    "OutgoingMessage",
    "Publisher",
    "WireHeaders",
    "create_topics",
]
