"""Reference models from maintained libraries on exactly seqarena's test split: 1-NN DTW
(aeon) for classification, AutoETS refitted at each forecast origin (statsforecast) for
forecasting, plus an independent reproduction of seqarena's test windows and metrics."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from real_data_sets import Bundle


@dataclass(frozen=True)
class Split:
    """seqarena's forecasting split parameters, as read from prepared/state.json."""

    lookback: int
    horizon: int
    season: int
    val_fraction: float
    test_fraction: float


def fold_end(n: int, sp: Split, fold: int) -> int:
    """Rows of a series of n rows that fold `fold` sees: the rolling origin k moves the
    cut-off back k test lengths, each ceil(n * test_fraction) of the full series."""
    return n - fold * math.ceil(n * sp.test_fraction)


def test_origins(n: int, sp: Split, fold: int = 0) -> range:
    """First target index of every test window of a series of n rows in a fold: the last
    ceil(n * test_fraction) rows before the fold's end are test, a window (lookback inputs,
    horizon targets) counts when all its targets are test rows, stride 1 (seqarena:
    _time_split, forecast_windows)."""
    n_test, end = math.ceil(n * sp.test_fraction), fold_end(n, sp, fold)
    if end < sp.lookback + sp.horizon:
        return range(0)
    return range(max(sp.lookback, end - n_test), end - sp.horizon + 1)


def train_rows(n: int, sp: Split, fold: int = 0) -> int:
    """Rows of a series in seqarena's train split of a fold (before val and test)."""
    return fold_end(n, sp, fold) - math.ceil(n * sp.test_fraction) - math.ceil(
        n * sp.val_fraction)


def mase_scale(y_train: np.ndarray, season: int) -> float:
    """seqarena's MASE scale: mean absolute seasonal difference of the training rows
    (1.0 when it is zero or undefined)."""
    diff = np.abs(y_train[season:] - y_train[:-season]) if len(y_train) > season else []
    scale = float(np.mean(diff)) if len(diff) else 0.0
    return scale if scale else 1.0


def forecast_scores(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MASE and sMAPE (%) over all windows and steps, defined exactly as seqarena's
    flows/stages/evaluate/stage.py forecast_metrics (sMAPE counts 0 where |y| + |yhat| = 0)."""
    err = np.abs(y - yhat)
    denom = np.abs(y) + np.abs(yhat)
    smape = np.divide(2 * err, denom, out=np.zeros_like(err), where=denom > 0)
    return {"mase": float((err / scale[:, None]).mean()), "smape": float(100 * smape.mean())}


def seasonal_naive(y: np.ndarray, t0: int, horizon: int, season: int) -> np.ndarray:
    """The value one season before each target, from the last observed season."""
    return np.array([y[t0 + h - season * math.ceil((h + 1) / season)] for h in range(horizon)])


def auto_ets(season: int) -> Any:
    """statsforecast's AutoETS for this season length."""
    from statsforecast.models import AutoETS
    return AutoETS(season_length=season)


def _forecasters(sp: Split, season: int, ets: bool = True) -> dict[str, Any]:
    """name -> f(history y[:t0], y, t0) giving the horizon's forecasts; AutoETS if `ets`."""
    out = {"naive": lambda y, t0: np.repeat(y[t0 - 1], sp.horizon)}
    if sp.season <= sp.lookback:  # seqarena's seasonal_naive reads only the lookback window
        out["seasonal_naive"] = lambda y, t0: seasonal_naive(y, t0, sp.horizon, sp.season)
    if ets:
        out["AutoETS"] = lambda y, t0: auto_ets(season).forecast(y=y[:t0], h=sp.horizon)["mean"]
    return out


def forecast_reference(b: Bundle, sp: Split, kept: list[str], fold: int = 0,
                       ets: bool = True) -> dict[str, Any]:
    """Naive, seasonal naive and (if `ets`) AutoETS on every test window of one fold of the
    series seqarena kept in it."""
    frame = b.frame.filter(pl.col("unique_id").is_in(kept)).sort("unique_id", "ds")
    fns = _forecasters(sp, b.season, ets)
    ys, scales, per_series = [], [], {}
    preds: dict[str, list[np.ndarray]] = {k: [] for k in fns}
    seconds = dict.fromkeys(fns, 0.0)
    for part in frame.partition_by("unique_id", maintain_order=True):
        y = part["y"].to_numpy().astype(np.float64)
        scale = mase_scale(y[: train_rows(len(y), sp, fold)], sp.season)
        per_series[part["unique_id"][0]] = scale
        for t0 in test_origins(len(y), sp, fold):
            ys.append(y[t0 : t0 + sp.horizon])
            scales.append(scale)
            for name, fn in fns.items():
                start = time.perf_counter()
                preds[name].append(np.asarray(fn(y, t0), dtype=np.float64))
                seconds[name] += time.perf_counter() - start
    if not ys:
        raise RuntimeError("no test windows in the series seqarena kept")
    truth, scale = np.stack(ys), np.array(scales)
    scores = {k: {**forecast_scores(truth, np.stack(v), scale), "seconds": seconds[k]}
              for k, v in preds.items()}
    return {"windows": len(ys), "scales": per_series, "scores": scores}


def check_baselines(ours: dict[str, dict[str, float]], theirs: dict[str, dict[str, Any]],
                    rtol: float = 1e-6) -> dict[str, float]:
    """Assert the baselines we recomputed match seqarena's rows; the largest relative gaps."""
    gaps = {}
    for name in ("naive", "seasonal_naive"):
        if (name in ours) != (name in theirs):
            where = "the benchmark" if name in ours else "seqarena"
            raise AssertionError(f"baseline {name}: only {where} has it")
        if name not in ours:
            continue
        for metric in ("mase", "smape"):
            a, b = ours[name][metric], float(theirs[name][metric])
            gap = abs(a - b) / max(abs(b), 1e-12)
            if gap > rtol:
                raise AssertionError(f"{name} {metric}: benchmark {a!r} vs seqarena {b!r} "
                                     f"(relative gap {gap:.2e} > {rtol:g}): the test windows "
                                     "or the metric definition differ")
            gaps[f"{name}.{metric}"] = gap
    return gaps


def classify_scores(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (over the classes in truth or predictions), with scikit-learn."""
    from sklearn.metrics import accuracy_score, f1_score
    return {"accuracy": float(accuracy_score(y, yhat)),
            "macro_f1": float(f1_score(y, yhat, average="macro", zero_division=0))}


def _aeon_input(xs: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """aeon's collection format: (n, C, T) when lengths agree, else a list of (C, T_i)."""
    return np.stack(xs) if len({x.shape[1] for x in xs}) == 1 else xs


def dtw_reference(b: Bundle) -> dict[str, Any]:
    """1-NN DTW (aeon, full window) fitted on the set's whole train split, scored on its test."""
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from numba.core.errors import NumbaTypeSafetyWarning

    warnings.simplefilter("ignore", NumbaTypeSafetyWarning)  # aeon's DTW casts an index
    assert b.train is not None and b.test is not None
    (x_tr, y_tr), (x_te, y_te) = b.train, b.test
    start = time.perf_counter()
    knn = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1, n_jobs=1)
    knn.fit(_aeon_input(x_tr), y_tr)
    yhat = knn.predict(_aeon_input(x_te))
    seconds = time.perf_counter() - start
    return {"train": len(x_tr), "test": len(x_te),
            "scores": {"1-NN DTW": {**classify_scores(y_te, yhat), "seconds": seconds}}}
