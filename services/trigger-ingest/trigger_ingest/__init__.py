"""trigger-ingest: the front door for events."""
