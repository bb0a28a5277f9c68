"""The names and sizes the SUSY command line offers, in a module that imports nothing.

``hepxai ... susy --help`` lists them without importing XGBoost, torch or h5py: the modules that
define what a name means (:mod:`~hepxai.usecases.susy.models`,
:mod:`~hepxai.usecases.susy.store`, :mod:`~hepxai.usecases.susy.generate`) read them from here.
"""

from __future__ import annotations

#: the classifiers: XGBoost multi-class BDT, fully connected network
MODEL_KINDS = ("bdt", "mlp")
#: model (and demo) sizes: quick (tests), fast (laptop), full (benchmark)
PRESETS = ("quick", "fast", "full")
#: training weights: every class the same total weight, or 1 per event
WEIGHTINGS = ("balanced", "none")
#: the reconstructions models are trained on
SAMPLES = ("simplified", "full")
#: simulation presets: stored events (train, test), equal numbers per process
SIMULATION_PRESETS: dict[str, tuple[int, int]] = {
    "quick": (20_000, 5_000),
    "fast": (200_000, 50_000),
    "full": (620_000, 125_000),
}
