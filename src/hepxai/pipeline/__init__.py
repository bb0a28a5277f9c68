"""Resumable pipelines: the steps of a study (``hepxai demo USE_CASE``), each one command."""
