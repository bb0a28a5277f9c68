"""SUSY one-lepton search (1Lbb): simulator of signal and backgrounds in three reconstructions,
HDF5 files and dataset presets, the BDT and MLP, evaluation, SHAP study, figures and report.
The physics specification is the docstring of :mod:`hepxai.usecases.susy.simulator` and
``docs/susy.md``."""

from hepxai.usecases.base import UseCase


def _rebuild(state: dict):
    from hepxai.core.errors import HepxaiError

    raise HepxaiError("SUSY models are run directories (model.json), not .pt checkpoints; load "
                      "one with hepxai.usecases.susy.models.load_model(RUN)")


def _load_model_dir(run):
    from hepxai.usecases.susy.models import load_model

    return load_model(run)


USE_CASE = UseCase(
    name="susy", summary="the SUSY one-lepton search: a BDT and an MLP on 16 variables",
    data_format="hepxai-susy", cli="hepxai.usecases.susy.cli", rebuild=_rebuild,
    model_file="model.json", load_model_dir=_load_model_dir, onnx="hepxai.usecases.susy.onnx")
