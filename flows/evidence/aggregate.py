"""From scored runs (a model with one seed on one fold, or a baseline on one fold) to one
leaderboard row per model: every metric as its mean over seeds and folds, their standard
deviation (the seed spread) and a 95% bootstrap interval over test items and seeds, the
error profile, and the training cost averaged over runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from flows.evidence.bootstrap import Bootstrap
from schemas.artifacts import METRICS, Interval, ModelCard, Row
from schemas.intervals import Coverage

WINDOW_SUMS = ("abs_error", "sq_error", "smape_error")  # per forecast window, in user units


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
    stratum: np.ndarray | None = None  # the bootstrap's units: class, or series ...
    block: np.ndarray | None = None  # ... and its block of `horizon` consecutive windows
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # forecast: per-window errors
    coverage: list[tuple[float, float]] = field(default_factory=list)  # (level, share covered)


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


def spread(name: str, metric: str, values: list[float], boot: Bootstrap) -> Interval:
    """Mean and sd over runs (sd None for one run), and the bootstrap's 95% interval."""
    lo, hi = boot.interval(name, metric)
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return Interval(mean=float(np.mean(values)), sd=sd, lo=lo, hi=hi, n=len(values))


def mean_coverage(runs: list[Scored]) -> list[Coverage] | None:
    """Each interval level's covered share, mean over runs, and how many runs pooled it
    across horizon steps; None unless every run has it."""
    shares = [dict(r.coverage) for r in runs]
    if not shares or not all(shares):
        return None
    levels = sorted(set.intersection(*(set(s) for s in shares)))
    values = {a: [s[a] for s in shares] for a in levels}
    pooled = {a: sum(b.level == a and b.pooled for r in runs if r.card and r.card.conformal
                     for b in r.card.conformal.bands) for a in levels}
    return [Coverage(level=a, covered=float(np.mean(v)), runs=len(runs), pooled=pooled[a],
                     sd=float(np.std(v, ddof=1)) if len(v) > 1 else None)
            for a, v in values.items() if np.all(np.isfinite(v))] or None


def aggregate(task: str, runs: list[Scored], boot: Bootstrap) -> Row:
    """One row from all runs of one model or baseline; `boot` resamples the error frame."""
    first = runs[0]
    values = {m: [r.metrics[m] for r in runs] for m in METRICS[task]}
    cards = [r.card for r in runs if r.card is not None]
    return Row(model=first.name, kind=first.kind, status="ok",  # type: ignore[arg-type]
               runs=len(runs), seeds=len({r.seed for r in runs}),
               folds=len({r.fold for r in runs}),
               **{m: float(np.mean(v)) for m, v in values.items()},
               interval={m: spread(first.name, m, v, boot) for m, v in values.items()},
               profile=_mean_profile([r.profile for r in runs]),
               coverage=mean_coverage(runs),
               **(_cost(cards) if cards else {}))


def error_frame(runs: list[Scored]) -> pl.DataFrame:
    """Every run's per-item test errors, long: model, kind, fold, seed, item, independent,
    error (baselines have seed -1), the bootstrap's stratum and block, to classify the true
    and predicted class index, and to forecast each window's abs, squared and sMAPE error."""
    def ints(r: Scored, values: np.ndarray | None) -> pl.Series:
        return pl.Series(values if values is not None else [None] * len(r.errors),
                         dtype=pl.Int32)
    return pl.concat([pl.DataFrame({
        "model": r.name, "kind": r.kind, "fold": r.fold, "seed": r.seed,
        "item": np.arange(len(r.errors)), "independent": r.independent,
        "error": r.errors.astype(float), "truth": ints(r, r.truth),
        "pred": ints(r, r.pred), "stratum": ints(r, r.stratum), "block": ints(r, r.block),
        **{name: r.sums[name].astype(float) if name in r.sums else
           pl.Series([None] * len(r.errors), dtype=pl.Float64) for name in WINDOW_SUMS}},
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
