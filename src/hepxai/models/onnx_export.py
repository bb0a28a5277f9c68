"""ONNX export of hepxai's torch models, checked against PyTorch on real validation events.

:func:`export_onnx` rebuilds a trained model from its checkpoint, exports it with dynamic
axes (the batch; for the dark-jet GNNs the nodes, the edges and the number of graphs), runs
``onnx.checker`` on the file, then feeds the same validation events to PyTorch and to
onnxruntime: the largest difference and the speed of both (latency at batch 1, throughput at
batch :data:`THROUGHPUT_BATCH`) are returned and written beside the file as ``OUT.json``.

Supported: every torch model of the use cases -- the muon CNNs and soft trees
(``(b, 1, 9, 384)`` images -> ``(b, 2)`` pT [GeV], |eta|), the dark-jet ResGNN and GATv2
(``x (nodes, 4)``, ``edge_index (2, edges)``, ``edge_weight (edges,)``, ``batch (nodes,)`` ->
one logit per graph) and 3D-CNN (``(b, 1, 7, 16, 16)`` voxels -> ``(b,)`` logits), and the SUSY
MLP (``(b, 16)`` variables -> ``(b, K)`` logits). Trees (the SUSY BDT, the muon decision tree)
are not torch models and are refused in one line.

The exporter: ``torch.export`` in strict mode (TorchDynamo) captures the model, and
``torch.onnx.export(..., dynamo=True)`` translates the captured program. The TorchScript
exporter is deprecated since torch 2.9 and cannot trace PyG's layers (its ``full()`` receives a
tensor fill value); non-strict ``torch.export`` stops at PyG's data-dependent
``int(index.max())`` (the number of graphs), which strict capture handles. The one ATen
operator of these models the ONNX function library lacks, ``adaptive_avg_pool3d`` (3D-CNN), is
decomposed here (:func:`adaptive_avg_pool3d`) before translation.

Parity: ``relative = |torch - onnxruntime| / max(|torch|, RELATIVE_FLOOR)`` with
``RELATIVE_FLOOR = 1``, i.e. ``numpy.allclose`` with ``rtol = atol``: relative for outputs
beyond 1 in size (pT in GeV), absolute below (logits near the decision boundary, |eta|). Float32
rounding of the O(1) sums inside a network sets the error of a small output, not its own size:
a logit of 1e-4 carries ~1e-7 absolute error, 1e-3 of itself, in both runtimes alike. The
export passes at :data:`PARITY_TOLERANCE`.

>>> summary = export_onnx("runs/demo-muon/models/attribution-cnn/best.pt",
...                       "onnx/attribution-cnn.onnx")                   # doctest: +SKIP
>>> summary["max_rel_diff"] < PARITY_TOLERANCE                           # doctest: +SKIP
True
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepxai.cli import options
from hepxai.cli.arguments import count
from hepxai.core.errors import HepxaiError

#: what the export must meet: the largest relative difference (see the module docstring)
PARITY_TOLERANCE = 1e-5
#: the denominator's floor of the relative difference
RELATIVE_FLOOR = 1.0
#: events (jets) per call of the parity check: several calls of other sizes than the export's
#: example, so the dynamic axes are exercised (and, for graphs, many node and edge counts)
PARITY_BATCH = 64
#: the batch of the throughput measurement
THROUGHPUT_BATCH = 1024
#: single-event calls timed for the latency; the throughput batch is timed a tenth as often
REPEATS = 50
#: blocks in which the two runtimes take turns while timed
ROUNDS = 5


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs in ``forward``'s order: name -> {axis: dynamic axis name}
    (axes not named are fixed)."""

    inputs: dict[str, dict[int, str]]
    outputs: dict[str, dict[int, str]]


@dataclass
class Exportable:
    """A torch model with what its export and check need.

    ``take(rows)``: the model's positional inputs for the validation events ``rows`` (positions
    ``0 .. n - 1``), as ``forward`` takes them.
    """

    model: Any
    name: str
    use_case: str
    preset: str
    signature: Signature
    unit: str
    n: int
    take: Callable[[Any], tuple[Any, ...]]
    source: Path


# -- the models of each use case --------------------------------------------------------------
#: the signatures the use cases' adapters (:attr:`hepxai.usecases.base.UseCase.onnx`) use
IMAGES = Signature({"images": {0: "batch"}}, {"pt_eta": {0: "batch"}})
GRAPHS = Signature({"x": {0: "nodes"}, "edge_index": {1: "edges"}, "edge_weight": {0: "edges"},
                    "batch": {0: "nodes"}}, {"logits": {0: "graphs"}})
VOXELS = Signature({"voxels": {0: "batch"}}, {"logits": {0: "batch"}})
TABLE = Signature({"features": {0: "batch"}}, {"logits": {0: "batch"}})


def _adapter(use_case: str, path: Path) -> Any:
    """The module that tells the export a use case's inputs and held-out file: its
    ``exportable(model, record, data, n)`` and ``CHECK_FILE``."""
    from importlib import import_module

    from hepxai import usecases

    where = usecases.get(use_case).onnx
    if where is None:
        raise HepxaiError(f"{path}: ONNX export does not know the {use_case} use case's models "
                          "(its UseCase declares no onnx adapter)")
    return import_module(where)


# -- export -----------------------------------------------------------------------------------
def export_onnx(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                data: str | os.PathLike[str] | None = None, events: int = 256,
                opset: int | None = None, repeats: int = REPEATS,
                throughput_batch: int = THROUGHPUT_BATCH) -> dict[str, Any]:
    """Export the model of ``checkpoint`` to ``out`` (``.onnx``), check it, time both runtimes.

    Args:
        checkpoint: a hepxai checkpoint (``best.pt``, ``checkpoints/epoch_NNN.pt``), a run
            directory holding ``best.pt``, or a SUSY run directory (``model.json``).
        out: the ONNX file; its summary is written beside it as ``OUT.json``.
        data: the data directory whose held-out file (``val.h5``; SUSY ``test.h5``) gives the
            events; default: the one the model was trained on, as its checkpoint (or its run's
            ``history.json``, or a SUSY ``model.json``) records it.
        events: how many of its first events check the export (at least 2: the export traces
            a batch of two).
        opset: the ONNX opset (default: the exporter's).
        repeats: single-event calls timed per runtime (0: no timing, the speeds are None).
        throughput_batch: the batch whose events per second are measured (the checked
            events repeated).

    Returns the summary: model, use case, preset, opset, inputs and outputs (name -> axes),
    events checked, ``max_abs_diff``, ``max_rel_diff``, ``parity_ok``, ``latency_ms`` and
    ``throughput_per_s`` (each ``{"torch", "onnxruntime"}``), threads, versions and paths.

    >>> summary = export_onnx("runs/darkjet/resgnn-gnn-1-fast/best.pt", "resgnn.onnx",
    ...                       data="data/darkjet")                      # doctest: +SKIP
    >>> summary["inputs"]["x"], summary["outputs"]["logits"]           # doctest: +SKIP
    (['nodes', 4], ['graphs'])
    """
    import torch

    from hepxai.core.atomic import atomic_path, write_json_atomic

    out = Path(out)
    if out.suffix != ".onnx":
        raise HepxaiError(f"--out {out}: an ONNX file must end in .onnx, e.g. "
                          f"{out.with_suffix('.onnx')}")
    if out.is_dir():
        raise HepxaiError(f"--out {out} is a directory; give the ONNX file to write, e.g. "
                          f"{out / 'model.onnx'}")
    if events < 2:
        raise HepxaiError(f"--events {events}: need at least 2 (the export traces a batch of "
                          "two)")
    target = load_exportable(checkpoint, data, events)
    example = _example(target)
    proto = _export(target.model.eval(), example, target.signature, target.name, opset)
    with atomic_path(out) as tmp:
        _write_checked(proto, tmp)
    session = _session(out, torch.get_num_threads())
    parity = _parity(target, session)
    speed = _speed(target, session, repeats, throughput_batch)
    summary = {
        "model": target.name, "use_case": target.use_case, "preset": target.preset,
        "checkpoint": str(checkpoint), "onnx": str(out),
        "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": _axes(proto.graph.input), "outputs": _axes(proto.graph.output),
        "export_example": {name: list(t.shape) for name, t in
                           zip(target.signature.inputs, example, strict=True)},
        "data": str(target.source), "unit": target.unit, "n_events": target.n, **parity,
        "relative_floor": RELATIVE_FLOOR, "tolerance": PARITY_TOLERANCE,
        "parity_ok": parity["max_rel_diff"] <= PARITY_TOLERANCE, **speed,
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "onnxruntime_version": _ort_version()}
    write_json_atomic(summary_path(out), summary)
    return summary


def summary_path(out: str | os.PathLike[str]) -> Path:
    """Where the summary of ``out`` goes: beside it, never onto a run's ``model.json``.

    >>> summary_path("onnx/mlp.onnx")
    PosixPath('onnx/mlp.onnx.json')
    """
    out = Path(out)
    return out.with_name(out.name + ".json")


def load_exportable(checkpoint: str | os.PathLike[str], data: str | os.PathLike[str] | None,
                    events: int) -> Exportable:
    """The model of ``checkpoint`` (rebuilt by its use case, weights loaded, eval mode) and its
    first ``events`` held-out events; one-line :class:`HepxaiError` for a model that is not a
    torch model, or when no data directory is given or recorded.

    >>> target = load_exportable("runs/demo-darkjet/runs/resgnn-gnn-1/best.pt", None,
    ...                          64)                                     # doctest: +SKIP
    >>> [t.shape for t in target.take(np.arange(2))]                   # doctest: +SKIP
    [torch.Size([13, 4]), torch.Size([2, 62]), torch.Size([62]), torch.Size([13])]
    """
    from hepxai.io.checkpoint import load_model, read_checkpoint
    from hepxai.models import locate

    path, own_format = locate(checkpoint)
    if own_format is not None:  # a model stored in its use case's format (SUSY: model.json)
        model = own_format.load_model_dir(path)
        record, use_case = model.meta, own_format.name  # model.json: identity and settings
    else:
        record = read_checkpoint(path)
        use_case = record["use_case"]
        model = load_model(path, use_case=use_case)
        if "identity" not in record:
            record["identity"] = _history_identity(path)
    model = _torch_module(model, path, use_case)
    adapter = _adapter(use_case, path)
    if data is None:
        data = _recorded_data(record, path, adapter.CHECK_FILE)
    return adapter.exportable(model, record, Path(data), events)


def _torch_module(model: Any, path: Path, use_case: str) -> Any:
    """The torch network of a loaded model (a SUSY MLP wraps its own); one line for a model
    that is no torch network (the trees)."""
    from torch import nn

    network = model.net if use_case == "susy" and hasattr(model, "net") else model
    if isinstance(network, nn.Module):
        return network.eval()
    if use_case == "susy":
        raise HepxaiError(f"{path}: a SUSY {model.kind.upper()} is an XGBoost model, not a "
                          "torch model: ONNX export covers torch models; use XGBoost's own "
                          f"model file {path / 'booster.json'} (onnxmltools converts it)")
    raise HepxaiError(f"{path}: a {model.name} is a {type(model).__name__} (scikit-learn), "
                      "not a torch model: ONNX export covers torch models (skl2onnx converts "
                      "scikit-learn trees)")


def _history_identity(checkpoint: Path) -> dict[str, Any]:
    """The run identity in the ``history.json`` of the checkpoint's run directory (``RUN/best.pt``
    or ``RUN/checkpoints/epoch_NNN.pt``), for a checkpoint that does not carry it; ``{}``
    without one."""
    import json

    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" \
        else checkpoint.parent
    try:
        identity = json.loads((run / "history.json").read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        return {}
    return identity if isinstance(identity, dict) else {}


def _recorded_data(record: dict[str, Any], checkpoint: Path, needs: str) -> Path:
    """The data directory the model was trained on: the directory of the training file its
    identity records (muon: ``data.path``; dark jets: ``data``; SUSY: ``data`` of model.json),
    which must still hold ``needs``."""
    identity = record.get("identity", record)  # a SUSY model.json is its own identity
    recorded = identity.get("data") if isinstance(identity, dict) else None
    if isinstance(recorded, dict):
        recorded = recorded.get("path")
    if not isinstance(recorded, str):
        raise HepxaiError(f"{checkpoint}: records no data directory; pass --data DIR (its "
                          f"{needs} gives the events the export is checked on)")
    directory = Path(recorded).parent
    if not (directory / needs).is_file():
        raise HepxaiError(f"{checkpoint}: trained on {directory}, which holds no {needs} now; "
                          "pass --data DIR")
    return directory


def _example(target: Exportable) -> tuple[Any, ...]:
    """The inputs the export traces: the first events whose every dynamic axis is at least 2
    long (``torch.export`` fixes an axis of size 0 or 1 to that size)."""
    import numpy as np

    k = 2
    while True:
        example = target.take(np.arange(min(k, target.n)))
        if all(t.shape[axis] >= 2 for t, axes in zip(example, target.signature.inputs.values(),
                                                      strict=True) for axis in axes):
            return example
        if k >= target.n:
            raise HepxaiError(f"{target.source}: its first {target.n} {target.unit} are too "
                              "small to trace the dynamic axes (a graph model needs at least "
                              "2 edges in all); check more with --events")
        k *= 2


def _export(model: Any, example: tuple[Any, ...], signature: Signature, name: str,
            opset: int | None = None) -> Any:
    """The ONNX ``ModelProto`` of ``model`` traced on ``example``; the exporter's failures are
    one-line :class:`HepxaiError` naming the operator (:func:`export_error`)."""
    import torch
    from torch.export import Dim

    dims = {axis: Dim(axis) for axes in signature.inputs.values() for axis in axes.values()}
    shapes = tuple({i: dims[axis] for i, axis in axes.items()}
                   for axes in signature.inputs.values())
    with _quiet():
        try:
            program = torch.export.export(model, example, dynamic_shapes=shapes, strict=True)
            table = _decompositions()
            if any(node.target in table for node in program.graph.nodes):
                program = program.run_decompositions(table)  # a retrace: only when needed
            onnx_program = torch.onnx.export(program, example, dynamo=True, verbose=False,
                                             input_names=list(signature.inputs),
                                             output_names=list(signature.outputs),
                                             opset_version=opset)
        except Exception as exc:  # noqa: BLE001  (the exporters raise a zoo of internal types)
            raise export_error(name, exc, opset) from None
    proto = onnx_program.model_proto
    _name_axes(proto, signature)
    return proto


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch.export and the ONNX exporter: they log every guard and fallback they take
    (pages of FX graph for the GNNs' data-dependent pooling) and warn about deprecations; the
    result is checked here instead."""
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def export_error(name: str, exc: BaseException, opset: int | None) -> HepxaiError:
    """One line for an exporter's exception: the operator it could not translate and why
    (found in the chain of causes, innermost first), else what stopped the capture.

    >>> inner = RuntimeError("No ONNX function found for <OpOverload(op='aten.histc', "
    ...                      "overload='default')>")
    >>> print(export_error("cnn", inner, 18))  # doctest: +ELLIPSIS
    cnn: cannot export to ONNX: operator aten.histc has no ONNX implementation (torch ...)...
    """
    import torch

    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    text = "\n".join(str(e) for e in chain)
    found = (re.search(r"target=torch\.ops\.([\w.]+)", text)
             or re.search(r"OpOverload\(op='([\w.]+)'", text))
    reason = _first_line(chain[-1])
    if found is None:
        return HepxaiError(f"{name}: torch.export cannot capture the model for ONNX "
                           f"({type(chain[-1]).__name__}: {reason})")
    operator = found.group(1)
    if operator.count(".") == 2:  # namespace.name.overload: the overload is noise here
        operator = operator.rsplit(".", 1)[0]
    why = ("has no ONNX implementation" if "No ONNX function found" in text
           else f"cannot be translated ({reason})")
    at = f", opset {opset}" if opset else ""
    return HepxaiError(f"{name}: cannot export to ONNX: operator {operator} {why} (torch "
                       f"{torch.__version__}{at}); replace it in the model or give the exporter "
                       "a translation (torch.onnx.export(custom_translation_table=...))")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def _decompositions() -> dict[Any, Callable[..., Any]]:
    """ATen operators the ONNX function library lacks, in operators it has.

    Not here, on purpose: PyG's message sums (``scatter_add`` of an index repeated over the
    features) export as ``ScatterElements``, which onnxruntime's CPU kernel adds element by
    element (90% of its time on a batch of 1024 ResGNN jets). As ``index_put`` they would
    export as ``ScatterND`` over rows, 40 times faster, but onnxruntime's ``ScatterND`` with
    ``reduction="add"`` races between threads on repeated indices (microsoft/onnxruntime#18048,
    #23396): 1e-2 off the logits with 2 threads, a different result every run.
    """
    import torch

    aten = torch.ops.aten
    # torch.export keeps the public op; older captures hold the private one
    return {aten.adaptive_avg_pool3d.default: adaptive_avg_pool3d,
            aten._adaptive_avg_pool3d.default: adaptive_avg_pool3d}


def adaptive_avg_pool3d(x: Any, output_size: Any) -> Any:
    """``torch.nn.functional.adaptive_avg_pool3d`` as three small matrix products.

    Output bin ``i`` of an axis of length ``n`` into ``m`` bins averages the inputs
    ``floor(i n / m) <= j < ceil((i + 1) n / m)``, the same window on every other axis, so the
    mean over a bin's box is the product of one averaging matrix ``(m, n)`` per axis: exact for
    every size, divisible or not. The spatial sizes must be fixed (only the batch and channel
    axes may be dynamic), as they are in a CNN on fixed-size images.

    >>> import torch
    >>> x = torch.rand(2, 3, 7, 9, 5)
    >>> torch.allclose(adaptive_avg_pool3d(x, (2, 4, 5)),
    ...                torch.nn.functional.adaptive_avg_pool3d(x, (2, 4, 5)), atol=1e-6)
    True
    """
    import torch

    spatial = tuple(x.shape[-3:])
    if not all(isinstance(n, int) for n in spatial):
        raise NotImplementedError("adaptive_avg_pool3d over a dynamic spatial size")
    mats = []
    for n, m in zip(spatial, output_size, strict=True):
        i = torch.arange(m)
        start, stop = (i * n) // m, -((-(i + 1) * n) // m)
        j = torch.arange(n)
        window = (j >= start[:, None]) & (j < stop[:, None])
        mats.append((window / (stop - start)[:, None]).to(dtype=x.dtype, device=x.device))
    return torch.einsum("...dhw,Dd,Hh,Ww->...DHW", x, *mats)


def _name_axes(proto: Any, signature: Signature) -> None:
    """Give the dynamic axes their names in the file: an exported program names them by its
    symbols (``s13``), and an axis derived from the data by its expression (``u4 + 1``: the
    largest graph index, plus one)."""
    renames = {}
    for values, declared in ((proto.graph.input, signature.inputs),
                             (proto.graph.output, signature.outputs)):
        for value, axes in zip(values, declared.values(), strict=True):
            dims = value.type.tensor_type.shape.dim
            for axis, name in axes.items():
                if dims[axis].dim_param:
                    renames[dims[axis].dim_param] = name
    for value in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]


def _write_checked(proto: Any, path: Path) -> None:
    """Write ``proto`` to ``path`` and run the full ONNX checker on the file (a failure is one
    line, the caller's atomic write leaves nothing behind)."""
    import onnx

    onnx.save_model(proto, str(path))
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise HepxaiError(f"the exported ONNX model fails onnx.checker: {_first_line(exc)}; "
                          "report it, with the checkpoint") from None


def _axes(values: Any) -> dict[str, list[int | str]]:
    """name -> shape of ONNX graph inputs or outputs (dynamic axes by name)."""
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in values}


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


# -- checks -----------------------------------------------------------------------------------
def _session(path: Path, threads: int) -> Any:
    """An onnxruntime CPU session with as many intra-op threads as torch uses, so the speeds
    compare the runtimes, not the thread counts."""
    import onnxruntime as ort

    settings = ort.SessionOptions()
    settings.intra_op_num_threads = threads
    settings.inter_op_num_threads = 1
    settings.log_severity_level = 3  # errors only: its graph-optimiser notes are not ours
    return ort.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])


def _feed(session: Any, inputs: tuple[Any, ...]) -> dict[str, Any]:
    return {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs, strict=True)}


def _torch_outputs(model: Any, inputs: tuple[Any, ...]) -> list[Any]:
    import torch

    with torch.no_grad():
        out = model(*inputs)
    return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


def _parity(target: Exportable, session: Any) -> dict[str, Any]:
    """The largest absolute and relative differences between PyTorch and onnxruntime on every
    event, in calls of :data:`PARITY_BATCH`."""
    import numpy as np

    worst_abs = worst_rel = 0.0
    calls = 0
    for start in range(0, target.n, PARITY_BATCH):
        inputs = target.take(np.arange(start, min(start + PARITY_BATCH, target.n)))
        for a, b in zip(_torch_outputs(target.model, inputs),
                        session.run(None, _feed(session, inputs)), strict=True):
            if a.shape != b.shape:
                raise HepxaiError(f"{target.name}: onnxruntime returns shape {b.shape}, "
                                  f"PyTorch {a.shape}; report it, with the checkpoint")
            diff = np.abs(a.astype(np.float64) - b)
            worst_abs = max(worst_abs, float(diff.max(initial=0.0)))
            worst_rel = max(worst_rel, float((diff / np.maximum(np.abs(a), RELATIVE_FLOOR))
                                             .max(initial=0.0)))
        calls += 1
    return {"max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "parity_calls": calls,
            "parity_batch": PARITY_BATCH}


def _speed(target: Exportable, session: Any, repeats: int, batch: int) -> dict[str, Any]:
    """Latency [ms] at batch 1 (median of ``repeats`` single-event calls, cycling through the
    events) and throughput [events/s] at ``batch`` (median of ``repeats // 10`` calls, at least
    one) of both runtimes on the same inputs; None for both with ``repeats = 0``."""
    import numpy as np
    import torch

    if repeats < 1:
        return {"latency_ms": None, "throughput_per_s": None, "throughput_batch": batch}
    singles = [target.take(np.array([i])) for i in range(min(repeats, target.n))]
    full = [target.take(np.resize(np.arange(target.n), batch))]

    def runtimes(inputs: list[tuple[Any, ...]]) -> dict[str, tuple[Callable, list]]:
        return {"torch": (lambda x: target.model(*x), inputs),
                "onnxruntime": (lambda f: session.run(None, f),
                                [_feed(session, x) for x in inputs])}

    with torch.no_grad():
        latency = _median_seconds(runtimes(singles), repeats)
        per_batch = _median_seconds(runtimes(full), max(1, repeats // 10))
    return {"latency_ms": {k: 1e3 * v for k, v in latency.items()},
            "throughput_per_s": {k: batch / v for k, v in per_batch.items()},
            "throughput_batch": batch}


def _median_seconds(runtimes: dict[str, tuple[Callable[[Any], Any], list[Any]]],
                    calls: int) -> dict[str, float]:
    """Median wall time of one call of each runtime (``name -> (call, inputs)``), ``calls``
    calls each cycling through its inputs, after one warm-up call each (first-call
    allocations, oneDNN primitives and onnxruntime kernels are made there). The runtimes take
    turns in :data:`ROUNDS` blocks, so a load that comes and goes on a shared machine slows
    both alike; within a block the calls follow each other, as they do in a serving loop."""
    for call, inputs in runtimes.values():
        call(inputs[0])
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    block = -(-calls // ROUNDS)
    for first in range(0, calls, block):
        for name, (call, inputs) in runtimes.items():
            for i in range(first, min(first + block, calls)):
                start = time.perf_counter()
                call(inputs[i % len(inputs)])
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# -- command line -----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--out FILE.onnx``, ``--data``, ``--events`` (imports nothing heavy:
    ``--help`` stays instant).

    >>> parser = argparse.ArgumentParser(prog="hepxai export-onnx")
    >>> add_arguments(parser)
    >>> parser.parse_args(["--checkpoint", "best.pt", "--out", "m.onnx"]).events
    256
    """
    options.checkpoint(parser, "the torch model to export (a SUSY MLP: its run directory)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.onnx",
                        help="the ONNX file to write; its check and timing summary goes "
                             "beside it as FILE.onnx.json")
    parser.add_argument("--data", type=Path, default=None,
                        help="data directory whose val.h5 (SUSY: test.h5) checks the export "
                             "(default: the one the model was trained on)")
    parser.add_argument("--events", type=count, default=256, metavar="N",
                        help="check on the first N held-out events (jets)")


def run(args: argparse.Namespace) -> int:
    """Export, check and time; print the result. Exit status 1 when the runtimes disagree
    beyond :data:`PARITY_TOLERANCE`.

    >>> parser = argparse.ArgumentParser(prog="hepxai export-onnx")
    >>> add_arguments(parser)
    >>> run(parser.parse_args(["--checkpoint", "runs/susy/mlp-full",
    ...                        "--out", "mlp.onnx"]))                  # doctest: +SKIP
    0
    """
    s = export_onnx(args.checkpoint, args.out, data=args.data, events=args.events)
    print(format_summary(s))
    return 0 if s["parity_ok"] else 1


def format_summary(s: dict[str, Any]) -> str:
    """The summary of :func:`export_onnx` as a few readable lines and a Markdown table.

    >>> print(format_summary({"model": "mlp", "use_case": "susy", "preset": "quick",
    ...     "onnx": "mlp.onnx", "opset": 20, "n_events": 256, "unit": "events",
    ...     "max_abs_diff": 2.4e-7, "max_rel_diff": 1.2e-7, "parity_ok": True,
    ...     "latency_ms": {"torch": 0.05, "onnxruntime": 0.01}, "throughput_batch": 1024,
    ...     "throughput_per_s": {"torch": 2e6, "onnxruntime": 4e6}}))
    mlp (susy, quick) -> mlp.onnx (opset 20); summary in mlp.onnx.json
    parity on 256 held-out events: max difference 2.4e-07, relative 1.2e-07 (ok: < 1e-05)
    | runtime | latency, batch 1 [ms] | throughput, batch 1024 [events/s] |
    | --- | ---: | ---: |
    | PyTorch | 0.050 | 2,000,000 |
    | onnxruntime | 0.010 | 4,000,000 |
    """
    verdict = "ok" if s["parity_ok"] else "FAILED"
    lines = [f"{s['model']} ({s['use_case']}, {s['preset']}) -> {s['onnx']} (opset "
             f"{s['opset']}); summary in {summary_path(s['onnx'])}",
             f"parity on {s['n_events']:,} held-out {s['unit']}: max difference "
             f"{s['max_abs_diff']:.1e}, relative {s['max_rel_diff']:.1e} ({verdict}: < "
             f"{PARITY_TOLERANCE:.0e})"]
    if s["latency_ms"] is not None:
        lines += [f"| runtime | latency, batch 1 [ms] | throughput, batch "
                  f"{s['throughput_batch']} [{s['unit']}/s] |", "| --- | ---: | ---: |"]
        for key, label in (("torch", "PyTorch"), ("onnxruntime", "onnxruntime")):
            lines.append(f"| {label} | {s['latency_ms'][key]:.3f} | "
                         f"{s['throughput_per_s'][key]:,.0f} |")
    return "\n".join(lines)


__all__ = ["PARITY_TOLERANCE", "RELATIVE_FLOOR", "Exportable", "Signature",
           "adaptive_avg_pool3d", "add_arguments", "export_error", "export_onnx",
           "format_summary", "load_exportable", "run", "summary_path"]
