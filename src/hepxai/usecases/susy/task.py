"""Training a SUSY classifier into a run directory (``model.json`` + the model's own files),
keeping a finished run with the same settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepxai.pipeline.cache import reuse_or_refuse

# GeV-valued, heavy-tailed variables the MLP sees through log1p
# (see hepxai.usecases.susy.models.MLPNet)
MLP_LOG_FEATURES = ("met", "met_sig", "lep_pt", "mt", "ht", "jet1_pt", "mbb", "mct", "pt_bb",
                    "mlb")


def train_run(model_kind: str, sample: str, preset: str, data: Path, out: Path, *,
              max_events: int | None = None, size: int | None = None,
              weighting: str = "balanced", seed: int = 1, jobs: int | None = None,
              overwrite: bool = False, shuffle_labels: bool = False,
              echo=print) -> dict[str, Any]:
    """Train one model (or keep the finished identical run); returns its model.json content.

    ``shuffle_labels``: train on the labels permuted over the training events, seeded by
    ``seed`` (:func:`~hepxai.usecases.susy.models.shuffled_labels`; the MLP's held-out
    events keep theirs): the model of the data-randomization sanity check
    (``hepxai sanity susy --shuffled``); recorded as ``shuffled_labels: true``."""
    from hepxai.usecases.susy.models import class_weights, create
    from hepxai.usecases.susy.store import SusyFile, split_path

    train_file = SusyFile(split_path(data, "train"))
    identity = {"model": model_kind, "sample": sample, "preset": preset, "seed": seed,
                "weighting": weighting, "max_events": max_events, "size_override": size,
                "data": str(train_file.path), "data_seed": train_file.attrs.get("seed"),
                "data_events": len(train_file),
                # only when set, so that the runs from before the option are still kept
                **({"shuffled_labels": True} if shuffle_labels else {})}
    meta_path = out / "model.json"
    existing = _read_meta(meta_path)
    # a run without the key has true labels: it must not stand in for a shuffled one (nor a
    # shuffled one for it)
    wanted = {**identity, "shuffled_labels": True if shuffle_labels else None}
    if reuse_or_refuse(meta_path, wanted, existing, overwrite=overwrite,
                       settings="model, sample, preset, seed, weighting, max events, size, "
                                "shuffled labels or data"):
        echo(f"{out}: already trained with these settings, kept (pass --overwrite and "
             "other settings to retrain)")
        return existing or {}
    table = train_file.table(sample, max_events=max_events)
    model = create(model_kind, preset, feature_names=table.feature_names,
                   class_names=table.class_names, seed=seed, n_jobs=jobs,
                   log_features=MLP_LOG_FEATURES if model_kind == "mlp" else (), size=size)
    counts = ", ".join(f"{c} {n:,}" for c, n in zip(table.class_names, _counts(table),
                                                    strict=True))
    echo(f"training {model_kind} ({preset}) on {len(table):,} {sample} events ({counts})"
         + ("; labels shuffled over the events" if shuffle_labels else ""))
    model.fit(table.x, table.y, class_weights(table.y, len(table.class_names), weighting),
              shuffle_seed=seed if shuffle_labels else None)
    model.save(out, identity)
    from hepxai.usecases.susy.figures import plot_training

    plot_training(model.meta["history"], out / "training_curves.png",
                  title=f"{model_kind.upper()} ({sample}, {preset}"
                        + (", shuffled labels)" if shuffle_labels else ")"),
                  xlabel="boosting round" if model_kind == "bdt" else "epoch")
    echo(f"trained in {model.meta['train_seconds']:.1f} s; saved {out / 'model.json'}")
    return model.meta


def _read_meta(path: Path) -> dict[str, Any] | None:
    """The settings in a run's ``model.json``; None when it is missing or not a JSON object."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def _counts(table) -> list[int]:
    import numpy as np

    return np.bincount(table.y, minlength=len(table.class_names)).tolist()
