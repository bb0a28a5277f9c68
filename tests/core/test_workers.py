"""Worker pools that stop with their parent: workers ignore Ctrl-C, and a block that ends by an
exception terminates them instead of waiting for the tasks still queued."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from hepxai.core.workers import worker_pool


def _sigint_disposition(_: int) -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has stopped; only its exit status is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # reaped (before or while reading)
        return False
    return state not in ("Z", "X")


def test_workers_ignore_ctrl_c_and_results_are_in_order():
    with worker_pool(2) as pool:
        assert all(pool.map(_sigint_disposition, range(4)))
        assert list(pool.map(abs, [-3, 2, -1])) == [3, 2, 1]


def test_an_exception_in_the_block_stops_the_workers_at_once():
    """Eight 30 s tasks queued on two workers: waiting for them would take two minutes; the
    block's exception must stop everything in a few seconds and leave no process alive."""
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with worker_pool(2) as pool:
            futures = [pool.submit(_nap, 30.0) for _ in range(8)]
            time.sleep(0.5)  # the workers are busy with the first two
            processes = list(pool._processes.values())
            raise KeyboardInterrupt
    assert time.perf_counter() - started < 10
    # a worker whose sentinel has closed may still be in the kernel's exit path for a moment
    settled = time.monotonic() + 1
    while any(_running(p.pid) for p in processes) and time.monotonic() < settled:
        time.sleep(0.01)
    assert processes and not any(_running(p.pid) for p in processes)
    # every task ends, cancelled or broken (the executor's thread settles them soon after);
    # none is run later
    deadline = time.monotonic() + 5
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(f.cancelled() or f.exception() is not None for f in futures)
