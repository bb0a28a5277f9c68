"""Small shared infrastructure: user-facing errors, atomic file writes, progress bars."""

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress

__all__ = ["HepxaiError", "atomic_path", "progress", "write_json_atomic"]
