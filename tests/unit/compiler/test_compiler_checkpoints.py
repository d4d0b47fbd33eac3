"""The compiler puts a checkpoint before state-changing steps where a guide says to confirm first."""

from __future__ import annotations

from compiler import compile_rules

GUIDE = """# Rotate the queue workers

## Look first

```bash
kubectl get pods -n queue
```

## Drain and restart

Before proceeding, verify that the backlog is below one thousand messages.

```bash
kubectl rollout restart deployment/queue-worker -n queue
```

## Clean up

```bash
kubectl delete pod stale-worker -n queue
```
"""

ASKING = """# Publish the price change

## Publish

Make sure the finance lead has signed the sheet before you publish.

```bash
kubectl apply -f prices.yaml
```

Get approval from the on-call manager, then:

```bash
kubectl rollout restart deployment/shop -n web
```
"""


def test_a_state_change_after_confirm_first_prose_is_a_checkpoint_and_nothing_else_is() -> None:
    result = compile_rules(GUIDE)
    by_id = {s["id"]: s for s in result.runbook["steps"]}
    # the prose itself becomes a checklist step; the restart after it may change state: a checkpoint
    (restart,) = [s for i, s in by_id.items() if i.startswith("drain-and-restart") and "approvals" in s]
    assert restart["checkpoint"] is True and "rollout restart" in restart["instructions"]
    # the read-only command, the prose step and the delete in a section without such a sentence get none
    assert [i for i, s in by_id.items() if s.get("checkpoint")] == [restart["id"]]
    assert any("marked checkpoint: true" in u for u in result.mapping.uncertainties)


def test_make_sure_before_and_get_approval_mark_the_steps_after_them() -> None:
    result = compile_rules(ASKING)
    changes = [s for s in result.runbook["steps"] if s["type"] == "manual" and "approvals" in s]
    assert len(changes) == 2 and all(s.get("checkpoint") is True for s in changes)
