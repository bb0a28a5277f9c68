"""Explanations of any model: attribution methods in Captum's calling convention, data influence
(TracIn), the soft tree's decision flow, and their judging and convergence.

    from hepxai.explain import IntegratedGradients, SmoothGrad, BinaryPathIG, salt_and_pepper
    attribution = IntegratedGradients(model).attribute(images, target=0)
    smooth = SmoothGrad(BinaryPathIG(model, mode="thesis"), noise=salt_and_pepper(0.02),
                        n_samples=100).attribute(images, target=[0, 1])

Every explainer takes any ``torch.nn.Module`` (TreeSHAP: an XGBoost ensemble) and images,
tables or PyG graphs (:mod:`hepxai.explain.modality`); :func:`judge` scores attributions against
a truth mask and compares methods. Names are imported on first use, so ``import hepxai.explain``
is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: public name -> module that defines it
_PUBLIC = {
    "Attribution": "hepxai.explain.types",
    "Influence": "hepxai.explain.types",
    "TreePath": "hepxai.explain.types",
    "Explainer": "hepxai.explain.base",
    "Image": "hepxai.explain.modality",
    "Table": "hepxai.explain.modality",
    "Graph": "hepxai.explain.modality",
    "Saliency": "hepxai.explain.attribution.saliency",
    "IntegratedGradients": "hepxai.explain.attribution.integrated_gradients",
    "BinaryPathIG": "hepxai.explain.attribution.binary_paths",
    "SmoothGrad": "hepxai.explain.attribution.smooth",
    "salt_and_pepper": "hepxai.explain.attribution.smooth",
    "gaussian": "hepxai.explain.attribution.smooth",
    "RegressionActivationMap": "hepxai.explain.attribution.cam",
    "GradientShap": "hepxai.explain.attribution.gradient_shap",
    "TreeShap": "hepxai.explain.attribution.tree_shap",
    "GNNExplainer": "hepxai.explain.attribution.gnnexplainer",
    "judge": "hepxai.explain.judging",
    "confusion_categories": "hepxai.explain.judging",
    "get": "hepxai.explain.registry",
    "names": "hepxai.explain.registry",
    "applicable": "hepxai.explain.registry",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'hepxai.explain' has no attribute {name!r}")
