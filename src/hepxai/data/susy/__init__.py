"""SUSY one-lepton search (1Lbb): simulator of signal and backgrounds in three reconstructions,
HDF5 files and dataset presets. The physics specification is the docstring of
:mod:`hepxai.data.susy.simulator` and ``docs/susy.md``."""
