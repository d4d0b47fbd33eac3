"""Retry delays are jittered: replicas that failed together spread their retries."""

from __future__ import annotations

from playbooks_platform.backoff import Backoff, jittered


def test_a_jittered_delay_is_between_half_and_all_of_it() -> None:
    draws = [jittered(1.0) for _ in range(2000)]
    assert all(0.5 <= d <= 1.0 for d in draws)
    # spread over the whole upper half, not bunched: the quarters of it each get a fair share
    quarters = [sum(lo <= d < lo + 0.125 for d in draws) for lo in (0.5, 0.625, 0.75, 0.875)]
    assert min(quarters) > 350, quarters
    assert jittered(0) == 0.0


def test_replicas_backing_off_together_do_not_retry_together() -> None:
    replicas = [Backoff(0.2, 10.0) for _ in range(20)]
    first = [r.next() for r in replicas]
    assert len({round(d, 4) for d in first}) > 15, "twenty replicas, twenty different first retries"


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_reset() -> None:
    backoff = Backoff(0.2, 1.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, nominal in zip(delays, [0.2, 0.4, 0.8, 1.0, 1.0, 1.0], strict=True):
        assert nominal / 2 <= delay <= nominal
    backoff.reset()
    assert 0.1 <= backoff.next() <= 0.2
