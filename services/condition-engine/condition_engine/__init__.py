"""condition-engine: org-scoped playbooks, the condition DSL, safe actions, run log, dry-run, insights."""
