"""The ``hepxai`` command: ``hepxai VERB USE_CASE [options]``."""

import sys

from hepxai.cli.app import main
from hepxai.core.allocator import reexec_with_tunables

__all__ = ["main", "run"]


def run() -> None:
    """The console entry point: allocator settings (see :mod:`hepxai.core.allocator`), then
    :func:`main`."""
    reexec_with_tunables(sys.argv[1:])
    sys.exit(main())
