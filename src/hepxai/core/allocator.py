"""glibc malloc settings for PyTorch on CPU: keep freed memory instead of unmapping it.

glibc serves every allocation above its mmap threshold (128 kB, raised dynamically to at most
32 MB) with a fresh ``mmap`` and gives it back with ``munmap`` on free. A training step of the
fast CNNs at batch 256 allocates activations of up to 56 MB, so every step maps, page-faults
and unmaps hundreds of MB: in the full demo 30 % of the CPU time was system time (363 million
minor page faults). With both thresholds raised, freed blocks stay in the heap and are reused.
The settings are read by glibc at process start only (``GLIBC_TUNABLES``), so the command
re-executes itself once with them; the process keeps its memory high-water mark, which is what
it needed anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"
MARKER = "HEPXAI_ALLOCATOR"  # set in the re-executed process; opt out with HEPXAI_ALLOCATOR=0


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


def reexec_with_tunables(argv: Sequence[str]) -> None:
    """Replace this process by ``python -m hepxai ARGV`` with :data:`TUNABLES` set.

    Returns (does nothing) when already done, opted out, not on glibc, or when the user set
    ``GLIBC_TUNABLES`` themselves.
    """
    if MARKER in os.environ or "GLIBC_TUNABLES" in os.environ or not _is_glibc():
        return
    env = {**os.environ, MARKER: "1", "GLIBC_TUNABLES": TUNABLES}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "hepxai", *argv], env)
