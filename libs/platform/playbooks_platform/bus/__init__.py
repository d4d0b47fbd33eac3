"""The Kafka bus: a publisher, a consumer runner with retries and dead-lettering, topic admin."""

from .admin import create_topics
from .consumer import ConsumerRunner, Delivery
from .publisher import OutgoingMessage, Publisher

__all__ = ["ConsumerRunner", "Delivery", "OutgoingMessage", "Publisher", "create_topics"]
