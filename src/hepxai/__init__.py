"""hepxai: convergent explainable AI for high-energy physics.

The package is organised as the pipeline it implements:
``data`` (simulators, file formats, loaders) -> ``models`` -> ``train`` -> ``metrics``
-> ``baselines`` -> ``explain`` -> ``viz`` / ``report``; ``cli`` exposes it as ``hepxai``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hepxai")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
