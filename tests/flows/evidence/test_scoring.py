"""Metrics from torchmetrics: known values worked by hand, and the same numbers as the
hand-written formulas they replace (copied here, as flows/stages/evaluate/stage.py had them)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from flows.evidence.scoring import (
    classify_metrics,
    forecast_metrics,
    horizon_errors,
    length_edges,
    length_errors,
)


def old_forecast_metrics(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """flows/stages/evaluate/stage.py forecast_metrics before issue 10."""
    err = np.abs(y - yhat)
    denom = np.abs(y) + np.abs(yhat)
    smape = np.divide(2 * err, denom, out=np.zeros_like(err), where=denom > 0)
    return {"mae": float(err.mean()), "rmse": float(np.sqrt((err**2).mean())),
            "smape": float(100 * smape.mean()), "mase": float((err / scale[:, None]).mean())}


def old_classify_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """flows/stages/evaluate/stage.py classify_metrics before issue 10."""
    f1 = []
    for c in np.union1d(y, yhat):
        tp = np.sum((yhat == c) & (y == c))
        prec, rec = tp / max(np.sum(yhat == c), 1), tp / max(np.sum(y == c), 1)
        f1.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return {"accuracy": float(np.mean(y == yhat)), "macro_f1": float(np.mean(f1))}


@pytest.mark.parametrize("seed", range(5))
def test_forecast_metrics_match_the_old_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 5, (40, 6))
    yhat = y + rng.normal(0, 2, y.shape)
    y[0, :2] = yhat[0, :2] = 0.0  # 0/0 sMAPE cells count 0
    scale = rng.uniform(0.5, 3, 40)
    new, old = forecast_metrics(y, yhat, scale), old_forecast_metrics(y, yhat, scale)
    assert new.keys() == old.keys()
    for key in old:
        assert new[key] == pytest.approx(old[key], rel=1e-6), key


def test_forecast_metrics_known_values() -> None:
    y = np.array([[1.0, 2.0], [0.0, 4.0]])
    yhat = np.array([[2.0, 2.0], [0.0, 1.0]])
    scale = np.array([1.0, 3.0])
    got = forecast_metrics(y, yhat, scale)
    # errors 1, 0, 0, 3: MAE 4/4 = 1, RMSE sqrt(10/4); sMAPE cells 2/3, 0, 0 (0/0), 6/5;
    # MASE cells 1/1, 0, 0, 3/3 -> 2/4
    assert got["mae"] == pytest.approx(1.0)
    assert got["rmse"] == pytest.approx(np.sqrt(2.5))
    assert got["smape"] == pytest.approx(100 * (2 / 3 + 6 / 5) / 4)
    assert got["mase"] == pytest.approx(0.5)


def test_horizon_errors_are_mase_per_step() -> None:
    y = np.array([[1.0, 2.0, 3.0], [0.0, 4.0, 0.0]])
    yhat = np.array([[2.0, 2.0, 3.0], [0.0, 1.0, 6.0]])
    scale = np.array([1.0, 3.0])
    # step 0: |1|/1, 0 -> 0.5; step 1: 0, 3/3 -> 0.5; step 2: 0, 6/3 -> 1.0
    assert horizon_errors(y, yhat, scale) == pytest.approx([0.5, 0.5, 1.0])
    assert np.mean(horizon_errors(y, yhat, scale)) == pytest.approx(
        forecast_metrics(y, yhat, scale)["mase"])


def test_horizon_errors_with_one_step() -> None:
    y, yhat = np.array([[1.0], [2.0]]), np.array([[0.0], [2.0]])
    assert horizon_errors(y, yhat, np.array([2.0, 1.0])) == pytest.approx([0.25])


def test_classify_metrics_known_values() -> None:
    y, yhat = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, fp 1, fn 1 -> P 1/2, R 1/2, F1 0.5
    # class 1: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 2*(2/3)/(5/3) = 0.8
    # class 2: tp 0, fn 1 -> F1 0;  macro (0.5 + 0.8 + 0) / 3 = 0.4333...; accuracy 3/5
    expected = {"accuracy": 0.6, "macro_f1": 1.3 / 3}
    for n_classes in (3, 5):  # classes 3 and 4, absent from both, are not averaged in
        got = classify_metrics(y, yhat, n_classes)
        assert got == pytest.approx(expected), n_classes


def test_a_class_only_predicted_counts_in_macro_f1() -> None:
    y, yhat = np.array([0, 0, 1]), np.array([0, 2, 1])
    # class 0: P 1, R 1/2 -> 2/3; class 1: 1; class 2 (predicted, never true): 0
    assert classify_metrics(y, yhat, 4)["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)


@pytest.mark.parametrize("seed", range(5))
def test_classify_metrics_match_the_old_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, yhat = rng.integers(0, 5, 60), rng.integers(0, 4, 60)  # class 4 is never predicted
    assert classify_metrics(y, yhat, 7) == pytest.approx(old_classify_metrics(y, yhat), rel=1e-6)


def test_length_edges_merge_equal_quantiles() -> None:
    assert length_edges(np.array([5, 5, 5, 5, 9]), 4).tolist() == [5, 9]
    assert length_edges(np.array([7, 7, 7]), 4).tolist() == [7]


def test_length_errors_buckets_by_quantile() -> None:
    lengths = np.arange(1, 9)  # quartile edges 1, 2, 4, 6, 8
    y = np.zeros(8, dtype=int)
    yhat = np.array([1, 0, 0, 0, 1, 1, 0, 1])
    got = length_errors(y, yhat, lengths)
    assert [(b["min_length"], b["max_length"], b["n"]) for b in got] == [
        (1, 1, 1), (2, 3, 2), (4, 5, 2), (6, 8, 3)]
    assert [b["error_rate"] for b in got] == pytest.approx([1.0, 0.0, 0.5, 2 / 3])


def test_length_errors_with_one_length_is_one_bucket() -> None:
    got = length_errors(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([4, 4, 4]))
    assert got == [{"min_length": 4, "max_length": 4, "n": 3, "error_rate": pytest.approx(1 / 3)}]


@pytest.mark.parametrize("seed", range(3))
def test_length_buckets_cover_every_sequence_and_none_is_empty(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.choice([3, 10, 11, 50, 400], 37)
    y, yhat = rng.integers(0, 2, 37), rng.integers(0, 2, 37)
    got = length_errors(y, yhat, lengths, bins=5)
    assert sum(b["n"] for b in got) == 37 and all(b["n"] > 0 for b in got)
    assert all(a["max_length"] < b["min_length"] for a, b in pairwise(got))
    errors = sum(b["error_rate"] * b["n"] for b in got)
    assert errors == pytest.approx(np.sum(y != yhat))


def test_forecast_metrics_take_strided_views() -> None:
    """Seasonal naive forecasts are column picks of the windows: a non-contiguous view."""
    x = np.arange(40, dtype=np.float64).reshape(2, 20)
    yhat = x[:, [13, 14, 15]]  # strided, as forecast_naive builds it
    y = yhat + 1.0
    m = forecast_metrics(y, yhat, np.ones(2))
    assert m["mae"] == pytest.approx(1.0) and m["mase"] == pytest.approx(1.0)
    assert horizon_errors(y, yhat, np.ones(2)) == pytest.approx([1.0, 1.0, 1.0])
