"""Explanations: attribution maps, influence of training examples, soft-tree decision flow,
and their quantitative judging and convergence (``hepxai.explain.evaluate``)."""

from hepxai.explain.registry import METHODS, get, methods_for, register
from hepxai.explain.types import Attribution, Influence

__all__ = ["Attribution", "Influence", "METHODS", "get", "methods_for", "register"]
