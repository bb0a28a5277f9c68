"""The ``hepxai`` command: ``hepxai VERB USE_CASE [options]``."""

from hepxai.cli.app import main

__all__ = ["main"]
