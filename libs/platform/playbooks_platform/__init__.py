"""Shared runtime of the playbook platform. No domain logic lives here."""
