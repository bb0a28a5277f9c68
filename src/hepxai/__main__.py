"""``python -m hepxai`` is the ``hepxai`` command."""

from hepxai.cli import run

run()
