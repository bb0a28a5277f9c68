"""Per-pixel attribution methods for the muon models; importing registers them."""

from hepxai.explain.attribution.base import as_images
from hepxai.explain.attribution.binary_path import BinaryPathIG
from hepxai.explain.attribution.gradients import IntegratedGradients, Saliency
from hepxai.explain.attribution.ram import RegressionActivationMap
from hepxai.explain.attribution.smoothgrad import SmoothGrad, salt_and_pepper

__all__ = ["BinaryPathIG", "IntegratedGradients", "RegressionActivationMap", "Saliency",
           "SmoothGrad", "as_images", "salt_and_pepper"]
