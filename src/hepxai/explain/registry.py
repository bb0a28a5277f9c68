"""Explanation methods by name, so the CLI, the studies and the reports iterate over methods
instead of hard-coding them. Importing this module imports no method: each is looked up (and
imported) when asked for. Adding a method is one new file and one line here.
"""

from __future__ import annotations

from importlib import import_module

from hepxai.core.errors import HepxaiError

#: registry name -> "module:Class"
EXPLAINERS: dict[str, str] = {
    "saliency": "hepxai.explain.attribution.saliency:Saliency",
    "ig": "hepxai.explain.attribution.integrated_gradients:IntegratedGradients",
    "ig-binary": "hepxai.explain.attribution.binary_paths:BinaryPathIG",
    "smoothgrad": "hepxai.explain.attribution.smooth:SmoothGrad",
    "ram": "hepxai.explain.attribution.cam:RegressionActivationMap",
    "ram-thesis-code": "hepxai.explain.attribution.cam:ThesisCodeRAM",
    "gradient-shap": "hepxai.explain.attribution.gradient_shap:GradientShap",
    "tree-shap": "hepxai.explain.attribution.tree_shap:TreeShap",
    "gnnexplainer": "hepxai.explain.attribution.gnnexplainer:GNNExplainer",
}


def names() -> list[str]:
    """Every registered method, in registration order."""
    return list(EXPLAINERS)


def get(name: str) -> type:
    """The explainer class registered as ``name``; a one-line error naming the choices
    otherwise."""
    if name not in EXPLAINERS:
        raise HepxaiError(f"unknown explanation method {name!r}; choose from "
                          f"{', '.join(EXPLAINERS)}")
    module, _, cls = EXPLAINERS[name].partition(":")
    return getattr(import_module(module), cls)


def applicable(model, modality=None) -> dict[str, str | None]:
    """For every method: ``None`` when it applies to ``model`` (and ``modality``), else the
    one-line reason it does not."""
    out: dict[str, str | None] = {}
    for name in EXPLAINERS:
        cls = get(name)
        if name == "smoothgrad":
            out[name] = None  # applies wherever the explainer it wraps does
            continue
        if modality is not None and modality.name not in cls.modalities:
            out[name] = f"explains {' or '.join(cls.modalities)} inputs, not {modality.name}s"
            continue
        out[name] = cls.supports(model)
    return out
