"""What the influential training events are: the TP / FP / FN / TN / only-noise study (poster,
thesis 7.3.3) and the self-influence ranking.

The simulator's bookkeeping makes these statements checkable: for every proponent we know its
true pT and |eta|, how many noise strips fired (``n_noise``) and whether a whole station was
silent (``silent_stations``, the "missing layers" the thesis blames for FP and FN). A summary per
set compares the proponents and opponents with the training set as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats

from hepxai.core.errors import HepxaiError
from hepxai.explain.influence.tracin import TracInStore
from hepxai.explain.types import NO_ID, Influence
from hepxai.usecases.muon.categories import NOISE, THRESHOLD_GEV, trigger_categories
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.models.base import MuonRegressor
from hepxai.usecases.muon.store import MuonFile
from hepxai.usecases.muon.task import gradients_like

CATEGORIES = ("TP", "FP", "FN", "TN")  # the order of the TracIn tables
HIGH_NOISE_QUANTILE = 0.9
PT_WINDOW_GEV = 2.0


def predict_events(model: MuonRegressor, dataset: MuonDataset, positions: np.ndarray,
                         batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """Physical predictions ``(len(positions), 2)`` (pT [GeV], |eta|) of ``model`` (eval)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, positions.size, batch_size):
            x, _ = dataset.__getitems__(positions[start:start + batch_size])
            out.append(model(x.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


@dataclass
class CategoryStudy:
    """Influence of the studied events of each set, their predictions and the summaries."""

    influences: dict[str, Influence] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # (n, 2) physical
    summary: dict[str, Any] = field(default_factory=dict)


def _training_reference(train: MuonFile, rows: np.ndarray) -> dict[str, np.ndarray]:
    labels = train.labels[rows]
    out = {"pt": labels["pt"].astype(np.float64), "eta": labels["eta"].astype(np.float64),
           "nhits": labels["nhits"].astype(np.float64)}
    if train.bookkeeping is not None:
        book = train.bookkeeping[rows]
        out["n_noise"] = book["n_noise"].astype(np.float64)
        out["silent"] = book["silent_stations"] != 0
    return out


def summarise_influence(influence: Influence, test_pt: np.ndarray, test_eta: np.ndarray,
                        train: MuonFile, store_rows: np.ndarray,
                        threshold: float = THRESHOLD_GEV) -> dict[str, Any]:
    """Who the proponents and opponents of a set of test events are, against the training set.

    Args:
        influence: top-k result for the set (ids are training-file rows).
        test_pt, test_eta: the test events' true pT [GeV] and |eta| ``(n,)`` (0 for only-noise).
        train: the training file (labels and bookkeeping).
        store_rows: the training rows TracIn ranked (base rates are taken over these).
    Returns:
        JSON-ready dict: mean scores, for proponents and opponents the share in the test event's
        true class (pT > threshold or not), the median |delta pT| and |delta eta|, the share
        within +-2 GeV, the share of high-noise events (``n_noise`` above the training set's
        90 % quantile) and of events with a silent station, with the training-set base rates.
    """
    if influence.proponent_ids is None or influence.opponent_ids is None:
        raise HepxaiError("the influence result keeps no top-k; query with k >= 1")
    reference = _training_reference(train, store_rows)
    labels = train.labels
    high_cut = float(np.quantile(reference["n_noise"], HIGH_NOISE_QUANTILE)) \
        if "n_noise" in reference else None
    test_class = (np.asarray(test_pt) > threshold)[:, None]
    out: dict[str, Any] = {"n_events": int(influence.n_test)}
    for side, ids, scores in (("proponent", influence.proponent_ids, influence.proponent_scores),
                              ("opponent", influence.opponent_ids, influence.opponent_scores)):
        real = ids != NO_ID  # fewer than k proponents / opponents: the row ends in NO_ID
        out[f"n_{side}s"] = int(real.sum())
        if not real.any():  # none of the set's events has one: no numbers (NaN -> null)
            keys = ("mean_score", "mean_pt", "same_class", "median_abs_dpt",
                    f"within_{PT_WINDOW_GEV:g}gev", "median_abs_deta", "high_noise",
                    "silent_station")
            out.update({f"{side}_{key}": float("nan") for key in keys})
            continue
        ids, test_of = ids[real], np.broadcast_to(np.arange(len(real))[:, None], real.shape)[real]
        pt = labels["pt"][ids].astype(np.float64)
        eta = labels["eta"][ids].astype(np.float64)
        dpt = np.abs(pt - np.asarray(test_pt)[test_of])
        out[f"{side}_mean_score"] = float(np.mean(scores[real]))
        out[f"{side}_mean_pt"] = float(pt.mean())
        out[f"{side}_same_class"] = float(((pt > threshold) == test_class[test_of, 0]).mean())
        out[f"{side}_median_abs_dpt"] = float(np.median(dpt))
        out[f"{side}_within_{PT_WINDOW_GEV:g}gev"] = float((dpt <= PT_WINDOW_GEV).mean())
        out[f"{side}_median_abs_deta"] = float(np.median(np.abs(eta -
                                                                np.asarray(test_eta)[test_of])))
        if high_cut is not None and train.bookkeeping is not None:
            book = train.bookkeeping[ids]
            out[f"{side}_high_noise"] = float((book["n_noise"] > high_cut).mean())
            out[f"{side}_silent_station"] = float((book["silent_stations"] != 0).mean())
    out["train_same_class"] = float(np.mean(
        (reference["pt"][None, :] > threshold) == test_class)) if len(test_pt) else float("nan")
    if high_cut is not None:
        out["train_high_noise"] = float((reference["n_noise"] > high_cut).mean())
        out["train_silent_station"] = float(reference["silent"].mean())
        out["high_noise_cut"] = high_cut
    return out


def category_study(store: TracInStore, model: MuonRegressor, val: MuonDataset,
                   noise: MuonDataset | None = None, *, per_category: int = 20, k: int = 10,
                   candidates: int = 5000, threshold: float = THRESHOLD_GEV, seed: int = 0,
                   device: str = "cpu") -> CategoryStudy:
    """TracIn for up to ``per_category`` events of each of TP / FP / FN / TN and only-noise.

    The first ``candidates`` validation events are predicted by ``model`` (the explained model,
    e.g. the run's ``best.pt``) and sorted into categories at ``threshold``; up to
    ``per_category`` of each are drawn at random (``seed``). From the only-noise set the events
    with the *highest* predicted pT are taken (the fake-trigger candidates the thesis studies in
    figure 7.11). Their test loss uses the file's labels (pT = |eta| = 0 for only-noise).
    """
    rng = np.random.default_rng(seed)
    train = MuonFile(store.train["path"])
    study = CategoryStudy()
    positions = np.arange(min(candidates, len(val)))
    predicted = predict_events(model, val, positions, device=device)
    truth = val.targets.numpy()[positions]
    categories = trigger_categories(truth[:, 0], predicted[:, 0], threshold)
    chosen: dict[str, np.ndarray] = {}
    for name in CATEGORIES:
        members = positions[categories == name]
        take = min(per_category, members.size)
        chosen[name] = np.sort(rng.choice(members, take, replace=False)) if take else members
    sets: dict[str, tuple[MuonDataset, np.ndarray, np.ndarray]] = {
        name: (val, chosen[name], predicted[np.searchsorted(positions, chosen[name])])
        for name in CATEGORIES}
    if noise is not None:
        noise_positions = np.arange(min(candidates, len(noise)))
        noise_pred = predict_events(model, noise, noise_positions, device=device)
        top = np.argsort(-noise_pred[:, 0], kind="stable")[:per_category]
        sets[NOISE] = (noise, noise_positions[top], noise_pred[top])
    counts = {name: int((categories == name).sum()) for name in CATEGORIES}
    study.summary = {"threshold_gev": threshold, "candidates": int(positions.size),
                     "category_counts": counts, "k": k, "sets": {}}
    for name, (dataset, picked, pred) in sets.items():
        if picked.size == 0:
            study.summary["sets"][name] = {"n_events": 0}
            continue
        influence = store.influence(gradients_like(store, dataset), picked, k=k, device=device)
        influence.params["set"] = name
        study.influences[name] = influence
        study.predictions[name] = pred
        targets = dataset.targets.numpy()[picked]
        summary = summarise_influence(influence, targets[:, 0], targets[:, 1], train,
                                      store.rows, threshold)
        summary["mean_predicted_pt"] = float(pred[:, 0].mean())
        study.summary["sets"][name] = summary
    return study


def self_influence_summary(store: TracInStore, values: np.ndarray | None = None,
                           top: int = 10) -> dict[str, Any]:
    """The self-influence ranking of the training set and what the extreme events are.

    Returns a JSON-ready dict: quantiles, the ``top`` most self-influential training rows with
    their values, pT, |eta|, n_noise and silent-station flag, Spearman correlations of the
    self-influence with n_noise, nhits and pT, and the share of events with a silent station
    in the top 1 % against the base rate.
    """
    values = store.self_influence() if values is None else np.asarray(values, np.float64)
    train = MuonFile(store.train["path"])
    reference = _training_reference(train, store.rows)
    order = np.argsort(-values, kind="stable")
    top = min(top, values.size)
    one_percent = order[:max(1, values.size // 100)]
    out: dict[str, Any] = {
        "n_train": int(values.size), "method": store.method,
        "quantiles": {f"{q:g}": float(np.quantile(values, q))
                      for q in (0.0, 0.5, 0.9, 0.99, 1.0)},
        "top": [{"row": int(store.rows[i]), "self_influence": float(values[i]),
                 "pt": float(reference["pt"][i]), "eta": float(reference["eta"][i]),
                 "nhits": int(reference["nhits"][i]),
                 **({"n_noise": int(reference["n_noise"][i]),
                     "silent_station": bool(reference["silent"][i])}
                    if "n_noise" in reference else {})}
                for i in order[:top]],
        "spearman": {},
    }
    for name in ("n_noise", "nhits", "pt"):
        if name in reference and values.size > 2 and np.ptp(reference[name]) > 0:
            out["spearman"][name] = float(stats.spearmanr(values, reference[name]).statistic)
    if "silent" in reference:
        out["top_percent_silent_station"] = float(reference["silent"][one_percent].mean())
        out["train_silent_station"] = float(reference["silent"].mean())
    return out


def format_categories(summary: dict) -> str:
    """The per-set summary as a text table."""
    lines = [f"{'set':<11}{'events':>7}{'prop. score':>13}{'opp. score':>12}"
             f"{'prop. same class':>18}{'prop. |dpT|':>13}{'prop. high noise':>18}"
             f"{'prop. silent st.':>18}"]
    for name, s in summary["sets"].items():
        if not s.get("n_events"):
            lines.append(f"{name:<11}{0:>7}")
            continue
        lines.append(f"{name:<11}{s['n_events']:>7}{s['proponent_mean_score']:>13.3g}"
                     f"{s['opponent_mean_score']:>12.3g}{s['proponent_same_class']:>18.2f}"
                     f"{s['proponent_median_abs_dpt']:>13.2f}"
                     f"{s.get('proponent_high_noise', float('nan')):>18.2f}"
                     f"{s.get('proponent_silent_station', float('nan')):>18.2f}")
    first = next((s for s in summary["sets"].values() if s.get("n_events")), None)
    if first is not None and "train_high_noise" in first:
        lines.append(f"training set: high noise {first['train_high_noise']:.2f}, silent station "
                     f"{first['train_silent_station']:.2f}")
    return "\n".join(lines)
