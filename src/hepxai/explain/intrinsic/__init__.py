"""Intrinsic explanations: the soft decision tree's decision flow."""

from hepxai.explain.intrinsic.tree import DecisionFlow, plain_language, soft_tree_of

__all__ = ["DecisionFlow", "plain_language", "soft_tree_of"]
