"""The thesis' code conventions against hand-computed values: ties at the threshold, an empty
set, uneven batches; and the relation to hepxai's conventions."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from hepxai.metrics import thesis_code, trigger


def test_the_docstring_examples_hold() -> None:
    result = doctest.testmod(thesis_code)
    assert result.attempted >= 5 and result.failed == 0


def test_mae_is_half_of_hepxai_total() -> None:
    pt, pt_hat = np.array([10.0, 20.0, 5.0]), np.array([11.0, 17.0, 5.0])
    eta, eta_hat = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.5, 0.4])
    # by hand: per event (1 + 0.1) / 2, (3 + 0) / 2, (0 + 0.5) / 2 -> mean 0.7666...
    assert thesis_code.mae(pt, pt_hat, eta, eta_hat) == pytest.approx((0.55 + 1.5 + 0.25) / 3)
    assert thesis_code.mae(pt, pt_hat, eta, eta_hat) == pytest.approx(
        trigger.mae(pt, pt_hat, eta, eta_hat)["total"] / 2)


def test_a_tie_at_the_threshold_counts_in_the_thesis_code_not_in_hepxai() -> None:
    pt_true = np.array([15.0, 15.0, 20.0, 20.0])
    pt_pred = np.array([15.0, 14.0, 15.0, 16.0])
    # thesis code, one batch: true >= 15 are all four; predicted >= 15 three of them
    assert thesis_code.efficiency(pt_true, pt_pred, 15.0, batch_size=32) == 0.75
    # hepxai: true > 15 are the two at 20 GeV; predicted > 15 only the 16 GeV one
    assert trigger.efficiency(pt_true, trigger.selected_by(pt_pred, 15.0), 15.0) == 0.5


def test_no_event_above_threshold_is_one_in_the_thesis_code_nan_in_hepxai() -> None:
    pt_true, pt_pred = np.array([3.0, 4.0]), np.array([20.0, 3.0])
    assert thesis_code.efficiency(pt_true, pt_pred, 15.0) == 1.0
    assert np.isnan(trigger.efficiency(pt_true, trigger.selected_by(pt_pred, 15.0), 15.0))


def test_uneven_batches_are_averaged_unweighted() -> None:
    # 5 events, batch 2 -> batches [0, 1], [2, 3], [4]; efficiencies 1/2, 1 (empty), 0/1
    pt_true = np.array([16.0, 17.0, 3.0, 4.0, 18.0])
    pt_pred = np.array([16.0, 10.0, 3.0, 4.0, 12.0])
    assert thesis_code.efficiency(pt_true, pt_pred, 15.0, batch_size=2) == pytest.approx(
        (0.5 + 1.0 + 0.0) / 3)
    # the whole-set value (batch as large as the set) is 1/3: aggregation alone moves it
    assert thesis_code.efficiency(pt_true, pt_pred, 15.0, batch_size=5) == pytest.approx(1 / 3)
    # spread: batches [8, 12] (|1| and |3|: 2), [10] (|2|); mean 2 vs whole-set 2 as well,
    # but [8, 12, 12] with batches [8, 12], [12] gives (2 + 3) / 2 = 2.5 vs 7 / 3
    assert thesis_code.spread([8.0, 12.0, 12.0], [9.0, 9.0, 9.0], batch_size=2) == 2.5
    assert trigger.spread([8.0, 12.0, 12.0], [9.0, 9.0, 9.0]) == pytest.approx(7 / 3)


def test_a_batch_without_events_in_the_spread_window_makes_the_spread_nan() -> None:
    assert np.isnan(thesis_code.spread([8.0, 30.0], [9.0, 30.0], batch_size=1))
    summary = thesis_code.thesis_code_summary([8.0, 30.0], [9.0, 30.0], [0.1, 0.1],
                                              [0.1, 0.1], batch_size=1)
    assert summary["spread"] is None and summary["batch_size"] == 1


def test_with_one_batch_and_no_ties_both_conventions_agree_but_mae() -> None:
    rng = np.random.default_rng(3)
    pt = rng.uniform(3, 30, 5000)
    pt_hat = pt + rng.normal(0, 2, pt.size) + 0.01  # no prediction exactly at a threshold
    eta, eta_hat = rng.uniform(0, 1, pt.size), rng.uniform(0, 1, pt.size)
    ours = trigger.trigger_summary(pt, pt_hat, eta, eta_hat)
    theirs = thesis_code.thesis_code_summary(pt, pt_hat, eta, eta_hat, batch_size=pt.size)
    assert theirs["spread"] == pytest.approx(ours["spread"])
    for key in ("efficiency_15", "efficiency_10"):
        assert theirs[key] == pytest.approx(ours[key])
    rows = {row["quantity"]: row for row in thesis_code.compare(ours, theirs)}
    assert rows["MAE"]["difference"] == pytest.approx(-ours["mae"]["total"] / 2)
    assert abs(rows["efficiency at 15 GeV"]["difference"]) < 1e-12


def test_a_bad_batch_size_is_refused() -> None:
    with pytest.raises(trigger.MetricInputError, match="batch_size"):
        thesis_code.efficiency([20.0], [20.0], 15.0, batch_size=0)
