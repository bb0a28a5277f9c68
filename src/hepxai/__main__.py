"""``python -m hepxai`` is the ``hepxai`` command."""

import sys

from hepxai.cli import main

sys.exit(main())
