"""Figures of the SUSY use case: data, training, performance and explanations.

Every function draws one figure kind and saves it atomically through
:func:`hepxai.viz.style.save`. The SHAP figures (beeswarm, bar, dependence) are drawn by
``shap.plots`` into axes we create on the Agg backend, then saved the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from hepxai.viz.style import save, use_style

CLASS_COLOURS = {"signal": "#d62728", "ttbar": "#1f77b4", "single_top": "#17becf",
                 "wjets": "#2ca02c", "ttv": "#9467bd"}
CLASS_LABELS = {"signal": r"signal ($\tilde\chi^\pm_1\tilde\chi^0_2\to Wh$)",
                "ttbar": r"$t\bar t$", "single_top": "single top", "wjets": r"$W$+jets",
                "ttv": r"$t\bar tZ$"}
FEATURE_LABELS = {"met": r"$E_T^{miss}$ [GeV]", "met_sig": r"$E_T^{miss}/(H_T+p_T^\ell)^{1/2}$",
                  "lep_pt": r"$p_T^\ell$ [GeV]", "lep_eta": r"$\eta^\ell$",
                  "mt": r"$m_T$ [GeV]", "dphi_lep_met": r"$\Delta\phi(\ell, E_T^{miss})$",
                  "n_jets": r"$n_{jets}$", "n_bjets": r"$n_{b\text{-}jets}$",
                  "ht": r"$H_T$ [GeV]", "jet1_pt": r"$p_T^{j1}$ [GeV]",
                  "mbb": r"$m_{bb}$ [GeV]", "mct": r"$m_{CT}$ [GeV]",
                  "pt_bb": r"$p_T^{bb}$ [GeV]", "dr_bb": r"$\Delta R_{bb}$",
                  "mlb": r"$m_{\ell b}^{min}$ [GeV]",
                  "dphi_jet_met": r"$\Delta\phi_{min}(j, E_T^{miss})$"}
RANGES = {"met": (200, 800), "met_sig": (0, 40), "lep_pt": (0, 500), "lep_eta": (-2.5, 2.5),
          "mt": (0, 600), "dphi_lep_met": (0, np.pi), "n_jets": (1.5, 8.5),
          "n_bjets": (-0.5, 4.5), "ht": (0, 1500), "jet1_pt": (0, 1000), "mbb": (0, 500),
          "mct": (0, 500), "pt_bb": (0, 800), "dr_bb": (0, 5), "mlb": (0, 500),
          "dphi_jet_met": (0, np.pi)}
INTEGER = ("n_jets", "n_bjets")
LEVEL_COLOURS = {"simplified": "#1f77b4", "full": "#d62728"}


def _colour(name: str, i: int = 0) -> str:
    return CLASS_COLOURS.get(name, f"C{i}")


def _bins(feature: str) -> np.ndarray:
    lo, hi = RANGES.get(feature, (None, None))
    if feature in INTEGER:
        return np.arange(lo, hi + 1.0)
    return np.linspace(lo, hi, 41)


# -- data --------------------------------------------------------------------------------------
def plot_features(features: Mapping[str, np.ndarray], labels: np.ndarray,
                  presel: Mapping[str, np.ndarray], feature_names: tuple[str, ...],
                  class_names: tuple[str, ...], path: str | os.PathLike[str]) -> Path:
    """Normalised distribution of every variable per class: simplified (filled line) and full
    reconstruction (dashed) of the same simulated events, each after its own preselection."""
    use_style()
    n = len(feature_names)
    cols = 4
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows))
    for j, (ax, name) in enumerate(zip(axes.flat, feature_names, strict=False)):
        bins = _bins(name)
        for k, cls in enumerate(class_names):
            for level, style in (("simplified", "-"), ("full", "--")):
                values = features[level][(labels == k) & presel[level], j]
                ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, density=True,
                        histtype="step", linestyle=style, color=_colour(cls, k), linewidth=1.3,
                        label=CLASS_LABELS.get(cls, cls) if level == "simplified" and j == 0
                        else None)
        ax.set_xlabel(FEATURE_LABELS.get(name, name), fontsize=11)
        ax.set_yticks([])
        ax.tick_params(labelsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color="k", linestyle="-"),
                plt.Line2D([], [], color="k", linestyle="--")]
    names += ["simplified", "full reconstruction"]
    fig.legend(handles, names, loc="upper center", ncol=4, fontsize=11, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save(fig, path)


def plot_resolution(truth: np.ndarray, simplified: np.ndarray, full: np.ndarray,
                    feature_names: tuple[str, ...], path: str | os.PathLike[str],
                    features: tuple[str, ...] = ("met", "mt", "mbb", "mct", "ht", "lep_pt")
                    ) -> Path:
    """Reconstructed minus truth value of the same events, simplified vs full: the price of
    the detector on each variable."""
    use_style()
    chosen = [f for f in features if f in feature_names]
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.6 * len(chosen), 3.4), squeeze=False)
    for ax, name in zip(axes[0], chosen, strict=True):
        j = feature_names.index(name)
        spread = max(np.percentile(np.abs(full[:, j] - truth[:, j]), 98), 1e-3)
        bins = np.linspace(-spread, spread, 61)
        for level, values in (("simplified", simplified), ("full", full)):
            colour = LEVEL_COLOURS[level]
            diff = values[:, j] - truth[:, j]
            ax.hist(np.clip(diff, bins[0], bins[-1]), bins=bins, histtype="step", color=colour,
                    label=f"{level}: RMS {np.sqrt(np.mean(diff**2)):.1f}", linewidth=1.4)
        ax.set_xlabel(f"reco - truth: {FEATURE_LABELS.get(name, name)}", fontsize=10)
        ax.set_yscale("log")
        ax.legend(fontsize=8, loc="upper right")
        ax.tick_params(labelsize=9)
    fig.tight_layout()
    return save(fig, path)


def plot_training(history: Mapping[str, list[float]], path: str | os.PathLike[str],
                  title: str, xlabel: str) -> Path:
    """Loss per boosting round / epoch (training and validation)."""
    use_style()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, values in history.items():
        if values:
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("multi-class log-loss")
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=10)
    return save(fig, path)


# -- performance ------------------------------------------------------------------------------
def plot_roc(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """One panel per class: one-vs-rest ROC of every model, AUC in the legend."""
    use_style()
    classes = summary["classes"]
    fig, axes = plt.subplots(1, len(classes), figsize=(3.9 * len(classes), 3.9), squeeze=False)
    for ax, cls in zip(axes[0], classes, strict=True):
        for i, (label, r) in enumerate(summary["models"].items()):
            ax.plot(r["roc"][cls]["fpr"], r["roc"][cls]["tpr"], color=f"C{i}",
                    label=f"{label}: {r['auc'][cls]:.3f}", linewidth=1.4)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlim(0, 1)  # rates: nothing outside [0, 1] to show
        ax.set_ylim(0, 1.02)
        ax.set_title(CLASS_LABELS.get(cls, cls), fontsize=11)
        ax.set_xlabel("false positive rate", fontsize=10)
        ax.set_ylabel("true positive rate", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.tick_params(labelsize=9)
    fig.tight_layout()
    return save(fig, path)


def plot_efficiency_rejection(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Signal efficiency vs background rejection (cross-section weighted), every model."""
    use_style()
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    for i, (label, r) in enumerate(summary["models"].items()):
        curve = r["efficiency_rejection"]
        ax.plot(curve["efficiency"], curve["rejection"], color=f"C{i}", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1/$\\epsilon_B$ (weighted)")
    ax.legend(fontsize=9)
    return save(fig, path)


def plot_significance(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Z against signal efficiency of the cut on P(signal); the best working points marked."""
    use_style()
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    for i, (label, r) in enumerate(summary["models"].items()):
        scan = r["significance"]
        curve = scan["curve"]
        eff = np.asarray(curve["s"]) / scan["total_signal"]
        z = np.asarray(curve["z"])
        allowed = np.asarray(curve["n_background_mc"]) >= scan["min_background_events"]
        ax.plot(eff[allowed], z[allowed], color=f"C{i}", label=label)
        if scan["best"]:
            ax.plot(scan["best"]["signal_efficiency"], scan["best"]["z"], "o", color=f"C{i}")
    ax.set_xlabel("signal efficiency of the cut on P(signal)")
    ax.set_ylabel(f"Z (Asimov, {summary['rel_unc']:.0%} bkg. unc.)")
    ax.set_title(f"{summary.get('luminosity_fb', 139):g} fb$^{{-1}}$", fontsize=11, loc="right")
    ax.legend(fontsize=9)
    return save(fig, path)


def plot_scores(predictions: Mapping[str, Mapping[str, np.ndarray]], classes: list[str],
                path: str | os.PathLike[str]) -> Path:
    """Weighted P(signal) distributions: stacked backgrounds, signal on top (a HEP stack)."""
    use_style()
    n = len(predictions)
    fig, axes = plt.subplots(1, n, figsize=(5.4 * n, 4.4), squeeze=False)
    bins = np.linspace(0, 1, 26)
    s = classes.index("signal")
    for ax, (label, pred) in zip(axes[0], predictions.items(), strict=True):
        score = pred["proba"][:, s]
        stacks = [(c, score[pred["label"] == k], pred["weight"][pred["label"] == k])
                  for k, c in enumerate(classes) if k != s]
        ax.hist([v for _, v, _ in stacks], bins=bins, weights=[w for _, _, w in stacks],
                stacked=True, color=[_colour(c) for c, _, _ in stacks],
                label=[CLASS_LABELS.get(c, c) for c, _, _ in stacks])
        signal = pred["label"] == s
        ax.hist(score[signal], bins=bins, weights=pred["weight"][signal], histtype="step",
                color=_colour("signal"), linewidth=2, label=CLASS_LABELS["signal"])
        ax.set_yscale("log")
        ax.set_xlabel("P(signal)")
        ax.set_ylabel("events / 0.04 (139 fb$^{-1}$)")
        ax.set_title(label, fontsize=11)
        ax.legend(fontsize=7, loc="upper center")
    fig.tight_layout()
    return save(fig, path)


# -- explanations -----------------------------------------------------------------------------
def plot_importance_stack(attribution, path: str | os.PathLike[str], title: str = "") -> Path:
    """Mean |attribution| per feature, stacked over classes (shap's multi-class bar plot),
    features sorted by the total."""
    use_style()
    imp = np.abs(attribution.values.astype(np.float64)).mean(axis=0)  # (K, F)
    order = np.argsort(imp.sum(0))
    names = [FEATURE_LABELS.get(attribution.item_names[j], attribution.item_names[j])
             for j in order]
    fig, ax = plt.subplots(figsize=(7.0, 0.38 * len(order) + 1.5))
    left = np.zeros(len(order))
    for k, cls in enumerate(attribution.targets):
        ax.barh(np.arange(len(order)), imp[k, order], left=left, color=_colour(cls, k),
                label=CLASS_LABELS.get(cls, cls))
        left += imp[k, order]
    ax.set_yticks(np.arange(len(order)), names, fontsize=10)
    ax.minorticks_off()
    ax.set_xlabel("mean |attribution| (margin units), stacked over classes", fontsize=11)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def _explanation(attribution, x: np.ndarray, target: str, max_events: int = 2000):
    import shap

    k = attribution.target_index(target)
    n = min(len(x), max_events)
    base = attribution.baseline_outputs[:n, k] if attribution.baseline_outputs is not None \
        else np.zeros(n)
    return shap.Explanation(values=attribution.values[:n, k].astype(np.float64),
                            base_values=base, data=np.asarray(x[:n], np.float64),
                            feature_names=list(attribution.item_names))


def plot_shap_class(attribution, x: np.ndarray, target: str, out_dir: str | os.PathLike[str],
                    title: str = "", n_dependence: int = 2, bar: bool = True) -> dict[str, Any]:
    """Beeswarm, bar (optional) and dependence plots (the ``n_dependence`` most important
    features, coloured by their strongest interaction) of one class, by ``shap.plots``."""
    import shap

    use_style()
    out = Path(out_dir)
    explanation = _explanation(attribution, x, target)
    paths: dict[str, Any] = {}
    # shap's figures are designed for matplotlib's default style (the HEP style's minor ticks
    # break its bar plot), so they are drawn in that style
    with plt.style.context("default"):
        fig = plt.figure(figsize=(8, 7))
        shap.plots.beeswarm(explanation, max_display=16, show=False, plot_size=None)
        fig.axes[0].set_title(f"{title}: {target}", fontsize=11)
        paths["beeswarm"] = str(save(fig, out / f"{target}-beeswarm.png"))
        if bar:
            fig = plt.figure(figsize=(8, 7))
            shap.plots.bar(explanation, max_display=16, show=False)
            fig.axes[0].set_title(f"{title}: {target}", fontsize=11)
            paths["bar"] = str(save(fig, out / f"{target}-bar.png"))
        order = np.argsort(-np.abs(explanation.values).mean(0))[:n_dependence]
        paths["dependence"] = {}
        for j in order:
            name = attribution.item_names[j]
            fig, ax = plt.subplots(figsize=(6.4, 4.6))
            # long tails (m_bb of W+jets up to 2 TeV) would squeeze the physics into a corner
            shap.plots.scatter(explanation[:, int(j)], color=explanation, ax=ax, show=False,
                               xmin="percentile(0.5)", xmax="percentile(99.5)")
            ax.set_title(f"{title}: {target}", fontsize=11)
            paths["dependence"][name] = str(save(fig, out / f"{target}-dependence-{name}.png"))
    return paths


def plot_sample_comparison(comparison: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """The slides' question as a figure: signal-class SHAP importance of each variable in the
    BDT on the simplified and on the full sample (left), and the paired difference of the
    SHAP values of the same events (right), variables sorted by that difference."""
    use_style()
    rows = list(comparison["rows"])[::-1]  # largest difference at the top
    y = np.arange(len(rows))
    names = [FEATURE_LABELS.get(r["feature"], r["feature"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.4 * len(rows) + 1.8), sharey=True)
    left.barh(y + 0.2, [r["importance_simplified"] for r in rows], height=0.4,
              color=LEVEL_COLOURS["simplified"], label="simplified")
    left.barh(y - 0.2, [r["importance_full"] for r in rows], height=0.4,
              color=LEVEL_COLOURS["full"], label="full reconstruction")
    left.set_yticks(y, names, fontsize=10)
    left.minorticks_off()
    left.set_xlabel("mean |SHAP| of the signal margin", fontsize=11)
    left.legend(fontsize=9, loc="lower right")
    right.barh(y, [r["mean_abs_difference"] for r in rows], color="#7f7f7f")
    right.set_xlabel(r"mean $|\phi_{full} - \phi_{simplified}|$, same events", fontsize=11)
    fig.suptitle("BDT trained on each sample: which variables matter for the signal, and "
                 "which change", fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def plot_convergence(attributions: Mapping[str, Any], rows: list[Mapping[str, Any]],
                     path: str | os.PathLike[str], target: str = "signal",
                     samples: Mapping[str, str] | None = None) -> Path:
    """Left: global Spearman rank correlation of the signal-class importances between every
    pair of explanations (centred margins). Right: per-event Spearman distributions of the
    pairs on the same sample (and of the two BDTs), coloured by the pair of methods, solid for
    the full and dashed for the simplified sample."""
    use_style()
    names = list(attributions)
    matrix = np.eye(len(names))
    for r in rows:
        i, j = names.index(r["a"]), names.index(r["b"])
        matrix[i, j] = matrix[j, i] = r["spearman"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6),
                                      gridspec_kw={"width_ratios": [1, 1.2]})
    image = left.imshow(matrix, cmap="viridis", vmin=min(0.0, matrix.min()), vmax=1.0)
    for i in range(len(names)):
        for j in range(len(names)):
            left.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=9,
                      color="white" if matrix[i, j] < 0.6 else "black")
    left.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    left.set_yticks(range(len(names)), names, fontsize=8)
    left.minorticks_off()
    left.set_title("global importance, Spearman (signal)", fontsize=11)
    fig.colorbar(image, ax=left, fraction=0.046)
    from hepxai.explain.judging.ranks import masked_spearman
    from hepxai.usecases.susy.study import centred

    samples = samples or {}
    method = {name: attributions[name].method for name in names}
    colours: dict[tuple[str, ...], str] = {}
    bins = np.linspace(-1, 1, 41)
    for r in rows:
        same_sample = samples.get(r["a"]) is not None and samples.get(r["a"]) == \
            samples.get(r["b"])
        both_trees = method[r["a"]] == method[r["b"]] == "tree-shap"
        if not (same_sample or both_trees or not samples):
            continue
        a, b = attributions[r["a"]], attributions[r["b"]]
        k = a.target_index(target)
        ea, eb = np.abs(centred(a.values)[:, k]), np.abs(centred(b.values)[:, k])
        rho = masked_spearman(ea, eb, np.ones(ea.shape, bool))
        kind = tuple(sorted((method[r["a"]], method[r["b"]])))
        colour = colours.setdefault(kind, f"C{len(colours) % 10}")
        style = "--" if samples.get(r["a"]) == "simplified" and not both_trees else "-"
        right.hist(rho[np.isfinite(rho)], bins=bins, histtype="step", color=colour,
                   linestyle=style, linewidth=1.5, label=f"{r['a']} vs {r['b']}", density=True)
    right.set_xlabel("per-event Spearman of |attribution| across variables", fontsize=11)
    right.set_ylabel("density", fontsize=11)
    right.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save(fig, path)
