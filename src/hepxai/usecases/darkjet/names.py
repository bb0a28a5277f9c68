"""The names and sizes the dark-jet command line offers, in a module that imports nothing.

``hepxai ... darkjet --help`` lists them without importing torch or PyG: the modules that
define what a name means (:mod:`~hepxai.usecases.darkjet.models`,
:mod:`~hepxai.usecases.darkjet.study`, :mod:`~hepxai.usecases.darkjet.store`) read them from
here. The graph settings are :mod:`hepxai.usecases.darkjet.graph_settings`.
"""

from __future__ import annotations

#: the taggers of :data:`hepxai.usecases.darkjet.models.MODELS`, in that order
MODELS = ("resgnn", "gatv2", "cnn3d")
#: training presets: seconds (tests), a CPU study, the slides' scale
PRESETS = ("quick", "fast", "paper")
#: the graph explanation methods of ``hepxai explain darkjet``
METHODS = ("saliency-graph", "ig-graph", "gnnexplainer")
#: the voxel explanation methods of ``hepxai sanity darkjet`` on the 3D-CNN (hepxai's
#: Saliency and IntegratedGradients on the voxel images)
VOXEL_METHODS = ("saliency", "ig")
#: GNNExplainer's optimisation in the study, chosen by ``bench/gnnexplainer.py`` (BENCHMARKS.md,
#: "GNNExplainer settings"): the fewest steps at which the masks have left their random start
#: (Spearman -0.07), no longer change with more steps and agree between seeds (0.81). PyG's
#: defaults (100 steps at lr 0.01) leave masks at 0.39 with their start, 0.64 between seeds.
GNNEXPLAINER_EPOCHS, GNNEXPLAINER_LR = 25, 1.0
#: the most GNNExplainer restarts ``explain darkjet --samples-from`` averages: a seed
#: stability far below the target would ask for more optimisations than a study can afford
#: (two seeds agreeing at 0.2 need 36 for 0.9)
MAX_RESTARTS = 16
#: jets per class of ``hepxai simulate darkjet`` (the slides: ~400k for each of signal and
#: background)
DEFAULT_PER_CLASS = 400_000
