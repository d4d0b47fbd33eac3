"""runbook-runtime: governed execution of runbooks (engine usable without HTTP, service, CLI)."""
