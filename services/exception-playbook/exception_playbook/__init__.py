"""exception-playbook: match exceptions to playbooks, human-in-the-loop steps, an append-only event log."""
