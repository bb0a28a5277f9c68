"""Evaluation of trained models: predictions, the thesis' tables, figures, throughput."""
