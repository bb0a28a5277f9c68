"""The names and sizes the muon command line offers, in a module that imports nothing.

``hepxai ... muon --help`` lists them without importing torch: the modules that define what a
name means (:mod:`~hepxai.usecases.muon.models`, :mod:`~hepxai.usecases.muon.generate`,
:mod:`~hepxai.usecases.muon.study`) read their names and presets from here.
"""

from __future__ import annotations

#: the torch models of :data:`hepxai.usecases.muon.models.MODELS`, in that order
MODELS = ("attribution-cnn", "tracin-cnn", "tracin-cnn-tiny", "convsdt", "sdt", "ndt",
          "sdt-ensemble", "sdt-big-ensemble")
#: the scikit-learn tree on the flattened image (:mod:`~hepxai.usecases.muon.models.decision_tree`)
DECISION_TREE = "decision-tree"
#: model presets: the thesis' exact layers and recipe, or sized for CPUs
PRESETS = ("paper", "fast")

#: simulation presets: events (train, val, only-noise)
SIMULATION_PRESETS: dict[str, tuple[int, int, int]] = {
    # the published re-split of the thesis (850,003 / 94,445) and its only-noise set
    "paper": (850_003, 94_445, 944_448),
    # a laptop-sized study: minutes on 2 CPU cores
    "fast": (200_000, 40_000, 100_000),
    # the smallest set the metrics are meaningful on (a few seconds)
    "quick": (40_000, 10_000, 20_000),
}

#: the labels of the explanation methods (:data:`hepxai.usecases.muon.study.DEFAULT_METHODS`)
METHODS = ("ram", "saliency", "ig", "ig-binary", "ig-binary-exact", "shapley", "smoothgrad")
#: the methods of the thesis' code (``--conventions thesis``), :data:`...study.THESIS_METHODS`
THESIS_METHODS = ("ram-thesis-code", "ig-binary", "smoothgrad")
