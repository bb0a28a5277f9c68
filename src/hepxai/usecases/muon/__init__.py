"""The RPC L0 muon trigger of the thesis: 9 x 384 binary hit images -> (pT, |eta|).

Simulator and files (``geometry``, ``simulator``, ``store``, ``loader``, ``published``,
``generate``), models (``models/``), the training task (``task``), classical baselines
(``baselines/``), evaluation (the thesis' tables), the explanation study (``study``), decision
flow, TracIn and its validation, figures, the demo's steps and the report.
"""

from hepxai.usecases.base import UseCase


def _rebuild(state: dict):
    from hepxai.io.checkpoint import recipe_of
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.models.base import TrainingRecipe
    from hepxai.usecases.muon.models.decision_tree import NAME as DECISION_TREE
    from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel

    if state["model"] == DECISION_TREE:
        return DecisionTreeModel.from_state(state)
    model = create(state["model"], state["preset"])
    model.recipe = recipe_of(state, TrainingRecipe)
    return model


def _is_run_dir(run) -> bool:
    return any(run.glob("models/*/history.json")) or any(run.glob("explain/*/judging.json"))


USE_CASE = UseCase(
    name="muon", summary="the RPC L0 muon trigger: 9x384 hit images -> pT, |eta|",
    data_format="hepxai-muon", cli="hepxai.usecases.muon.cli", rebuild=_rebuild,
    is_run_dir=_is_run_dir, onnx="hepxai.usecases.muon.onnx")
