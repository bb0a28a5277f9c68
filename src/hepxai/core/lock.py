"""One writer per output directory: an advisory lock held while a run writes there.

Two runs into one ``--out`` (two ``simulate`` runs with different seeds, say) would otherwise
each find the other's split missing and mix their data. The lock is ``fcntl.flock`` on
``DIR/.hepxai.lock``, which names its holder. The holder removes the file when it is done;
the kernel releases the lock when the holder exits or is killed, so a crashed run leaves at
most a lock file nobody holds, which the next run simply takes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from hepxai.core.atomic import output_directory
from hepxai.core.errors import HepxaiError

LOCK_NAME = ".hepxai.lock"
# per thread: the directories this thread holds, with how often it entered each (another
# thread of the process asking for one takes a new descriptor, which flock refuses)
_HELD = threading.local()


@contextlib.contextmanager
def exclusive(directory: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold ``directory``'s lock for the block; a second holder is refused in one line that
    names the first (its pid and ``what`` it does). Re-entrant within one process (a demo step
    runs its command in the demo's process); a directory the block created and left empty is
    removed.

    Another process asking for it while it is held gets "DIR is being written by another
    hepxai run (pid N: WHAT); wait for it to finish or choose another --out".

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, exclusive(d, "simulate muon"):
    ...     with exclusive(d, "a step of the same run"):  # this process: entered again
    ...         print((Path(d) / LOCK_NAME).read_text().split(": ")[1].strip())
    simulate muon
    """
    directory = Path(directory)
    key = str(directory.resolve())
    path = directory / LOCK_NAME
    held = _HELD.__dict__.setdefault("counts", {})
    if key in held:  # this thread holds it already (a command inside a demo step, say)
        held[key] += 1
        try:
            yield path
        finally:
            held[key] -= 1
        return
    created = _missing_chain(output_directory(directory))
    fd = _acquire(path, directory)
    held[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}\n".encode(), 0)
        yield path
    finally:
        del held[key]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # while still locked: a later run makes a fresh file
        os.close(fd)  # releases the lock
        for made in created:  # a refused command leaves none of the directories it made
            try:
                made.rmdir()
            except OSError:
                break  # not empty (written to, or another run's): keep it and its parents


def _missing_chain(directory: Path) -> list[Path]:
    """The directories from ``directory`` up that do not exist yet, deepest first."""
    chain = []
    while not directory.exists() and directory != directory.parent:
        chain.append(directory)
        directory = directory.parent
    return chain


def _acquire(path: Path, directory: Path) -> int:
    """An open descriptor of ``path`` holding its lock. A file unlinked by a holder that
    finished between our open and our lock is not ``path`` any more: open it again."""
    for _ in range(5):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a finishing holder removed the directory it had made
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise HepxaiError(f"{directory} is being written by another hepxai run ({holder});"
                              " wait for it to finish or choose another --out") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise HepxaiError(f"{directory}: could not take its lock ({path}); retry")
