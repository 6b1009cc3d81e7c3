"""From scored runs (a model with one seed on one fold, or a baseline on one fold) to one
leaderboard row per model: every metric as mean, standard deviation and a 95% interval
over seeds and folds, the error profile, and the training cost averaged over runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from flows.evidence import interval
from schemas.artifacts import METRICS, ModelCard

BOUNDS = {"mae": (0.0, None), "rmse": (0.0, None), "mase": (0.0, None), "smape": (0.0, 200.0),
          "accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0)}


def bounded(metric: str, ci: dict[str, Any]) -> dict[str, Any]:
    """The interval clipped to the metric's range (a t interval knows no bounds)."""
    low, high = BOUNDS[metric]
    if ci["lo"] is None:
        return ci
    lo = max(ci["lo"], low)
    hi = ci["hi"] if high is None else min(ci["hi"], high)
    return {**ci, "lo": lo, "hi": hi}


@dataclass
class Scored:
    """One run's test scores: metrics, one error per test item (with which items share no
    target step) and the error profile (per horizon step, or per sequence-length bucket)."""

    name: str
    kind: str
    fold: int
    seed: int
    metrics: dict[str, float]
    errors: np.ndarray
    independent: np.ndarray
    profile: list[Any] = field(default_factory=list)
    card: ModelCard | None = None
    truth: np.ndarray | None = None  # classify: the true and predicted class of each item
    pred: np.ndarray | None = None


def _mean_profile(profiles: list[list[Any]]) -> list[Any]:
    """Per-horizon errors averaged over runs; length buckets with their error rates averaged."""
    if not profiles or not profiles[0]:
        return []
    if isinstance(profiles[0][0], dict):
        return [{**bucket, "error_rate": float(np.mean([p[i]["error_rate"] for p in profiles]))}
                for i, bucket in enumerate(profiles[0])]
    return np.mean(np.array(profiles, dtype=float), axis=0).tolist()


def _cost(cards: list[ModelCard]) -> dict[str, Any]:
    """Training cost over a model's runs: parameters, means of time and steps, peak memory."""
    def mean(key: str) -> float:
        return float(np.mean([getattr(c, key) for c in cards]))

    def peak(key: str) -> float | None:
        values = [getattr(c, key) for c in cards if getattr(c, key) is not None]
        return max(values) if values else None

    return {"arch": cards[0].spec.arch, "params": cards[0].params,
            "train_seconds": mean("train_seconds"), "ms_per_step": mean("ms_per_step"),
            "steps": round(mean("steps")), "best_step": round(mean("best_step")),
            "peak_rss_mib": peak("peak_rss_mib"), "rss_growth_mib": peak("rss_growth_mib"),
            "peak_torch_mib": peak("peak_torch_mib")}


def aggregate(task: str, runs: list[Scored]) -> dict[str, Any]:
    """One row from all runs of one model or baseline."""
    first = runs[0]
    values = {m: [r.metrics[m] for r in runs] for m in METRICS[task]}
    row: dict[str, Any] = {"model": first.name, "kind": first.kind, "status": "ok",
                           "runs": len(runs), "seeds": len({r.seed for r in runs}),
                           "folds": len({r.fold for r in runs}),
                           **{m: float(np.mean(v)) for m, v in values.items()},
                           "interval": {m: bounded(m, interval(v)) for m, v in values.items()},
                           "profile": _mean_profile([r.profile for r in runs])}
    cards = [r.card for r in runs if r.card is not None]
    return row | (_cost(cards) if cards else {"params": 0, "size_bytes": 0})


def error_frame(runs: list[Scored]) -> pl.DataFrame:
    """Every run's per-item test errors, long: model, kind, fold, seed, item, independent,
    error (baselines have seed -1), and to classify the true and predicted class index."""
    def classes(r: Scored, values: np.ndarray | None) -> pl.Series:
        return pl.Series(values if values is not None else [None] * len(r.errors),
                         dtype=pl.Int32)
    return pl.concat([pl.DataFrame({
        "model": r.name, "kind": r.kind, "fold": r.fold, "seed": r.seed,
        "item": np.arange(len(r.errors)), "independent": r.independent,
        "error": r.errors.astype(float), "truth": classes(r, r.truth),
        "pred": classes(r, r.pred)},
        schema_overrides={"fold": pl.Int32, "seed": pl.Int32}) for r in runs])


def run_errors(frame: pl.DataFrame) -> dict[str, list[np.ndarray]]:
    """Each model's (or baseline's) errors per independent test item, one array per seed
    over every fold, items in one common order (fold, item): what the paired tests compare."""
    kept = frame.filter("independent").sort("model", "seed", "fold", "item")
    return {name: [run["error"].to_numpy()
                   for _, run in part.group_by("seed", maintain_order=True)]
            for (name,), part in kept.partition_by("model", as_dict=True).items()}


def paired_errors(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Each model's error per independent test item averaged over its seeds (the
    did-not-learn diagnosis compares these)."""
    return {name: np.mean(runs, axis=0) for name, runs in run_errors(frame).items()}
