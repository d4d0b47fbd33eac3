"""The compiler's worker pool times a caller's job alone: a new worker warms up before it counts
as started, so neither the first job nor the one after a killed worker pays for it."""

from __future__ import annotations

import functools
import time

import pytest

from compiler.process_pool import WorkerPool
from playbooks_platform.errors import Invalid


async def test_a_new_worker_warms_up_before_its_first_job_is_timed() -> None:
    # Warm-up (1.5 s) is longer than the deadline (1 s): a job that were charged for it would fail.
    warm_up = functools.partial(time.sleep, 1.5)
    pool = WorkerPool(workers=1, deadline_s=1.0, queue_wait_s=0.0, memory_mb=1024, warm_up=warm_up)
    try:
        await pool.start()
        assert await pool.run(len, "abc") == 3
        with pytest.raises(Invalid, match="longer than the limit of 1 s"):
            await pool.run(time.sleep, 5)
        # The killed worker's replacement warms up before this job's deadline starts.
        assert pool._idle == []
        assert await pool.run(len, "ab") == 2
    finally:
        pool.close()


async def test_a_failed_warm_up_still_gives_a_worker() -> None:
    pool = WorkerPool(workers=1, deadline_s=5.0, queue_wait_s=0.0, memory_mb=1024, warm_up=functools.partial(int, "x"))
    try:
        await pool.start()
        assert await pool.run(len, "abc") == 3
    finally:
        pool.close()
