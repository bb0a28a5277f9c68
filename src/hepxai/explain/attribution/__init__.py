"""Attribution methods, one file each (their registry names in :mod:`hepxai.explain.registry`).
Nothing is imported here: ``from hepxai.explain import IntegratedGradients`` or the module
itself."""
