"""Stage `evaluate`: score every model and baseline once on the test split, with costs."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from flows.diagnostics import diagnose, item_errors, non_overlapping
from modules.batching import take
from modules.inference import Scaler, predict
from modules.lit import SequenceModule
from modules.model_files import load_model
from modules.training import quiet_lightning, split_tensors
from schemas.artifacts import Metrics, read_arrays, read_state, write
from schemas.config import Config
from schemas.files import atomic_write
from schemas.layout import Layout
from schemas.prepared import ClassifyState, ForecastState, State
from schemas.stages import leaderboard_schema

LATENCY_SAMPLES = 30


def forecast_metrics(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, sMAPE (%) and MASE over all windows and horizons; y, yhat (N, H)."""
    err = np.abs(y - yhat)
    denom = np.abs(y) + np.abs(yhat)
    smape = np.divide(2 * err, denom, out=np.zeros_like(err), where=denom > 0)
    return {"mae": float(err.mean()), "rmse": float(np.sqrt((err**2).mean())),
            "smape": float(100 * smape.mean()), "mase": float((err / scale[:, None]).mean())}


def classify_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 over the classes present in the truth or the predictions."""
    f1 = []
    for c in np.union1d(y, yhat):
        tp = np.sum((yhat == c) & (y == c))
        prec, rec = tp / max(np.sum(yhat == c), 1), tp / max(np.sum(y == c), 1)
        f1.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return {"accuracy": float(np.mean(y == yhat)), "macro_f1": float(np.mean(f1))}


def forecast_baselines(x: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Naive (last value) and seasonal naive (same step one season back), scaled, (N, H)."""
    lookback = x.shape[1]
    out = {"naive": np.repeat(x[:, -1:, 0], horizon, axis=1)}
    if season <= lookback:
        idx = [lookback + h - season * math.ceil((h + 1) / season) for h in range(horizon)]
        out["seasonal_naive"] = x[:, idx, 0]
    return out


@torch.no_grad()
def latency_ms(module: SequenceModule, inputs: tuple) -> float:
    """Median wall time of a batch-1 prediction, in milliseconds, over the first test rows."""
    k = min(LATENCY_SAMPLES, len(inputs[0]))
    module(*take(inputs, torch.arange(1)))  # warm-up
    times = []
    for i in range(k):
        one = take(inputs, torch.tensor([i]))
        start = time.perf_counter()
        module(*one)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _in_units(state: ForecastState, arrays: dict[str, np.ndarray], out: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test targets and forecasts in the user's units, and each window's MASE scale."""
    scaler, sid = Scaler(state), arrays["sid_test"]
    scale = np.array(state.mase_scale)[sid]
    return scaler.inverse(arrays["y_test"], sid), scaler.inverse(out, sid), scale


def _score(state: State, arrays: dict[str, np.ndarray], out: np.ndarray) -> dict[str, float]:
    if isinstance(state, ClassifyState):
        return classify_metrics(arrays["y_test"], out.argmax(axis=1))
    return forecast_metrics(*_in_units(state, arrays, out))


def _errors(state: State, arrays: dict[str, np.ndarray], out: np.ndarray) -> np.ndarray:
    """One error per independent test item, for the paired tests: every sequence, or the
    test windows that share no target step."""
    if isinstance(state, ClassifyState):
        return item_errors("classify", arrays["y_test"], out, None)
    keep = non_overlapping(arrays["sid_test"], arrays["pos_test"], state.horizon)
    return item_errors("forecast", *_in_units(state, arrays, out))[keep]


def _baselines(state: State, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each baseline's outputs on the test split."""
    if isinstance(state, ClassifyState):
        n = len(state.classes)
        majority = np.bincount(arrays["y_train"], minlength=n).argmax()
        return {"majority": np.eye(n)[np.full(len(arrays["y_test"]), majority)]}
    return forecast_baselines(arrays["x_test"], state.horizon, state.season)


def _baseline_row(name: str, state: State, arrays: dict[str, np.ndarray],
                  out: np.ndarray) -> dict[str, Any]:
    return {"model": name, "kind": "baseline", "status": "ok", "params": 0,
            "train_seconds": 0.0, "latency_ms": None, "size_bytes": 0,
            **_score(state, arrays, out)}


def _model_row(name: str, layout: Layout, state: State, arrays: dict[str, np.ndarray],
               inputs: tuple, best_base: tuple[str, np.ndarray]) -> dict[str, Any]:
    module, meta = load_model(layout.model_dir(name))
    out = predict(module, inputs)
    why = diagnose(state.task, meta, _errors(state, arrays, out), best_base[1], best_base[0])
    return {"model": name, "kind": "model", "status": "ok", "arch": meta.spec.arch,
            "params": meta.params, "train_seconds": meta.train_seconds,
            "ms_per_step": meta.ms_per_step, "steps": meta.steps,
            "best_step": meta.best_step, "latency_ms": latency_ms(module, inputs),
            "size_bytes": layout.weights(name).stat().st_size, "learned": why is None,
            "diagnosis": why, **_score(state, arrays, out)}


def evaluate(cfg: Config, failures: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Score models (those in `failures` are listed as failed) and baselines on the test split."""
    quiet_lightning()
    torch.set_num_threads(cfg.train.threads)
    layout, failures = Layout(Path(cfg.out_dir)), failures or {}
    state, arrays = read_state(layout), read_arrays(layout)
    task = state.task
    inputs = split_tensors(arrays, task, "test")[:-1]
    outs = _baselines(state, arrays)
    rows = [_baseline_row(name, state, arrays, out) for name, out in outs.items()]
    errors = {name: _errors(state, arrays, out) for name, out in outs.items()}
    best_base = min(errors.items(), key=lambda kv: float(kv[1].mean()))
    for name in cfg.models:
        if name in failures or not layout.card(name).exists():
            rows.append({"model": name, "kind": "model", "status": "failed", "params": 0,
                         "size_bytes": 0, "error": failures.get(name, "no trained model")})
            continue
        rows.append(_model_row(name, layout, state, arrays, inputs, best_base))
    types = {"params": pl.Int64, "size_bytes": pl.Int64, "train_seconds": pl.Float64,
             "latency_ms": pl.Float64}
    frame = pl.DataFrame(rows, infer_schema_length=None, schema_overrides=types)
    board = leaderboard_schema.validate(frame)
    metrics = Metrics(task=task, models={
        r["model"]: {k: v for k, v in r.items() if k != "model" and v is not None}
        for r in board.to_dicts()})
    write(layout.metrics, metrics, exclude_none=True)
    atomic_write(layout.leaderboard, board.write_csv)
    return board.to_dicts()
