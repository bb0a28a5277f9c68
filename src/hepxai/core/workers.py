"""Worker processes that stop with their parent: the one place hepxai starts a process pool.

A terminal's Ctrl-C reaches every process of the foreground group. Left to themselves, the
workers of a :class:`concurrent.futures.ProcessPoolExecutor` each die with a traceback, and the
parent's ``with`` block then waits for every task already queued: a run that ignores Ctrl-C
for minutes and prints pages of tracebacks, and a second Ctrl-C during that wait can leave
workers running after the parent has gone. The policy here:

- workers ignore SIGINT: only the parent decides to stop;
- when the ``with`` block ends by any exception (Ctrl-C, an error, a generator closed early),
  queued tasks are cancelled and the workers are terminated, then killed if they have not gone
  within a few seconds; a further Ctrl-C during that clean-up is ignored (the run is already
  stopping).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait

#: seconds a terminated worker gets to exit before it is killed
TERMINATE_GRACE_S = 3.0


def _ignore_interrupt_then(initializer: Callable[..., object] | None, *initargs) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def worker_pool(max_workers: int, mp_context=None,
                initializer: Callable[..., object] | None = None,
                initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` whose workers ignore Ctrl-C and
    are stopped, not waited for, when the block ends by an exception.

    Example:
        >>> from hepxai.core.workers import worker_pool
        >>> with worker_pool(2) as pool:
        ...     list(pool.map(abs, [-1, -2, 3]))
        [1, 2, 3]
    """
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context,
                               initializer=functools.partial(_ignore_interrupt_then,
                                                             initializer, *initargs))
    try:
        yield pool
    except BaseException:
        with _interrupts_ignored():
            _stop(pool)
        raise
    else:
        pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    # The executor has no public way to reach its processes before Python 3.14
    # (terminate_workers); the ``_processes`` map is the same one that method uses.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(ProcessLookupError, ValueError):  # already gone / closed
            process.terminate()
    # Wait on the sentinels, not is_alive(): the executor's own thread may reap a worker
    # first, after which is_alive() cannot tell that it has gone.
    pending = {process.sentinel: process for process in processes}
    deadline = time.monotonic() + TERMINATE_GRACE_S
    while pending and time.monotonic() < deadline:
        for sentinel in wait(list(pending), deadline - time.monotonic()):
            pending.pop(sentinel)
    if pending:  # (wait() on no sentinels would sleep the whole timeout)
        for process in pending.values():
            with contextlib.suppress(ProcessLookupError, ValueError):
                process.kill()
        wait(list(pending), TERMINATE_GRACE_S)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT during the block (main thread only): it runs because the run is
    already stopping, and a second Ctrl-C must not cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
