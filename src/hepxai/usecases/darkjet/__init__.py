"""Dark-photon jets vs QCD jets: jet simulator, HDF5 store, graph building (DarkJetGraphs),
voxelisation for the legacy 3D-CNN, the taggers (ResGNN, GATv2, 3D-CNN), their task,
evaluation, explanation, judging, TracIn, figures and report."""

from hepxai.usecases.base import UseCase


def _rebuild(state: dict):
    from hepxai.usecases.darkjet.models import rebuild

    return rebuild(state)


USE_CASE = UseCase(
    name="darkjet", summary="dark-photon jets vs QCD jets as graphs of calorimeter clusters",
    data_format="hepxai-darkjet", cli="hepxai.usecases.darkjet.cli", rebuild=_rebuild,
    onnx="hepxai.usecases.darkjet.onnx")
