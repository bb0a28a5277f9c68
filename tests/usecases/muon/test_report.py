"""The muon report's conclusion states only what the judging's intervals support."""

from __future__ import annotations

from hepxai.usecases.muon.report import _conclusion


def _explanation(shares: dict[str, tuple[float, list[float]]]) -> dict:
    methods = list(shares)
    return {"name": "cnn", "summary": {
        "scores": {m: {"all": {"muon_share": v}, "TP": {"muon_share": v}}
                   for m, (v, _) in shares.items()},
        "intervals": {"scores": {m: {"TP": {"muon_share": b}} for m, (_, b) in shares.items()}},
        "agreement": {"spearman": {"all": [[1.0 if i == j else 0.6 for j in methods]
                                           for i in methods]}}}}


def test_a_lead_within_overlapping_intervals_is_not_claimed():
    close = _conclusion([_explanation({"ig": (0.95, [0.93, 0.97]),
                                       "ram": (0.94, [0.92, 0.96])})])
    assert "ig puts the largest share" in close and "true-positive events" in close
    assert "does not establish which localizes best" in close
    clear = _conclusion([_explanation({"ig": (0.95, [0.94, 0.96]),
                                       "ram": (0.80, [0.78, 0.82])})])
    assert "does not establish" not in clear
