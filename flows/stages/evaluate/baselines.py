"""The yardsticks every model is measured against, on exactly the models' test items:
naive ones (last value, same step one season back, the majority class) and references from
maintained libraries (statsforecast AutoETS, AutoTheta and AutoARIMA, fitted before the
first test origin and moved forward over each origin; aeon 1-NN DTW and MiniRocket)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flows.stages.evaluate.references import (
    STAT_MODELS,
    ReferenceResult,
    dtw_reference,
    dtw_skip,
    minirocket_reference,
    minirocket_skip,
    stat_references,
)
from modules.arrays import Scaler
from schemas.artifacts import PreparedArrays
from schemas.prepared import ClassifyState, ForecastState, State

ONCE = 2**62  # refit_every: never again after the first fit


@dataclass(frozen=True)
class Yardstick:
    """A baseline's test outputs (scaled forecasts (N, H) or class scores (N, C)), its kind
    and a note (a fallback, or why it was skipped: then `out` is None)."""

    name: str
    kind: str
    out: np.ndarray | None
    note: str | None = None
    seconds: float | None = None  # a reference's fit + predict time on this fold


def _timed(run: Callable[[], ReferenceResult]) -> tuple[ReferenceResult, float]:
    """A reference's result and its wall seconds (fit and predict)."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def forecast_naive(x: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Naive (last value) and seasonal naive (same step one season back), scaled, (N, H)."""
    lookback = x.shape[1]
    out = {"naive": np.repeat(x[:, -1:, 0], horizon, axis=1)}
    if season <= lookback:
        idx = [lookback + h - season * math.ceil((h + 1) / season) for h in range(horizon)]
        out["seasonal_naive"] = x[:, idx, 0]
    return out


def _histories(state: ForecastState, arrays: PreparedArrays
               ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per test series: its target in the user's units up to its last origin and its
    origins (the index of each test window's first target step); and the test windows'
    indices in that series-by-series order."""
    sid, pos, start = arrays["sid_test"], arrays["pos_test"], arrays["start_test"]
    offset = start - (pos - state.lookback)  # where each window's series begins
    scaler, values, origins, rows = Scaler(state), [], [], []
    for s in dict.fromkeys(sid.tolist()):  # series in the order their windows come
        mine = np.flatnonzero(sid == s)
        first, end = int(offset[mine[0]]), int(pos[mine].max())
        z = arrays["series"][first:first + end, :1].T  # (1, T) scaled target
        values.append(scaler.inverse(z, np.array([s]))[0])
        origins.append(pos[mine])
        rows.append(mine)
    return values, origins, np.concatenate(rows)


def stat_yardsticks(state: ForecastState, arrays: PreparedArrays, workers: int = 1
                    ) -> list[Yardstick]:
    """The statsforecast models (AutoETS, AutoTheta, AutoARIMA) as scaled outputs, each chosen
    and fitted once per series on the history before its first test origin (as the networks
    are fitted before the test part), with the season seqarena inferred, then moved forward
    over the history before each later origin with those parameters (statsforecast's
    `forward`; refitting at every origin costs ~0.25 s a window: minutes on the demo). Series
    are fitted on `workers` processes; a reference's seconds are its own, summed over them."""
    values, origins, rows = _histories(state, arrays)
    results = stat_references(values, origins, state.horizon, state.season, list(STAT_MODELS),
                              workers, ONCE)
    sid, scaler, out = arrays["sid_test"][rows], Scaler(state), []
    for name, result in results.items():
        if result.outputs is None:
            out.append(Yardstick(name, "reference", None, result.note))
            continue
        scaled = np.empty_like(result.outputs)
        scaled[rows] = (result.outputs - scaler.mean[sid][:, None]) / scaler.std[sid][:, None]
        out.append(Yardstick(name, "reference", scaled, result.note, result.seconds))
    return out


def _sequences(arrays: PreparedArrays, split: str) -> list[np.ndarray]:
    """A split's sequences as (T_i, F) arrays."""
    return np.split(arrays[f"x_{split}"], np.cumsum(arrays[f"len_{split}"])[:-1])


def _few(train: list[np.ndarray], labels: np.ndarray, test: list[np.ndarray]
         ) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """The first training sequence of each class and the first two test sequences."""
    first = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    return [train[i] for i in first], labels[first], test[:2]


def _classifier(name: str, state: ClassifyState, data: tuple[list, np.ndarray, list],
                reference: Callable[..., ReferenceResult],
                skip: Callable[[list, list], str | None]) -> Yardstick:
    """A classifier over `data`: train+val sequences (nothing is tuned on val), their labels
    and the test sequences; as one-hot scores. Its seconds are timed after a warm-up on a few
    of the sequences, so aeon's one-time numba compilation (about 35 s for MiniRocket in a
    new environment, against 2 s to fit and predict the demo) is not counted as its cost; no
    warm-up when its cost guard (`skip`) will skip it."""
    if not skip(data[0], data[2]):
        reference(*_few(*data))
    result, seconds = _timed(lambda: reference(*data))
    if result.outputs is None:
        return Yardstick(name, "reference", None, result.note)
    scores = np.eye(len(state.classes))[result.outputs.astype(np.int64)]
    return Yardstick(name, "reference", scores, result.note, seconds)


def yardsticks(state: State, arrays: PreparedArrays, references: bool, workers: int = 1
               ) -> list[Yardstick]:
    """Every baseline's outputs on this fold's test split, references when asked (the
    statistical ones fitted on `workers` processes)."""
    if isinstance(state, ClassifyState):
        n = len(state.classes)
        majority = np.bincount(arrays["y_train"], minlength=n).argmax()
        out = [Yardstick("majority", "baseline", np.eye(n)[np.full(len(arrays["y_test"]),
                                                                    majority)])]
        if references:
            data = (_sequences(arrays, "train") + _sequences(arrays, "val"),
                    np.concatenate([arrays["y_train"], arrays["y_val"]]),
                    _sequences(arrays, "test"))
            out += [_classifier("1nn_dtw", state, data, dtw_reference, dtw_skip),
                    _classifier("minirocket", state, data, minirocket_reference,
                                minirocket_skip)]
        return out
    naive = forecast_naive(arrays["x_test"], state.horizon, state.season)
    out = [Yardstick(k, "baseline", v) for k, v in naive.items()]
    if references:
        out += stat_yardsticks(state, arrays, workers)
    return out
