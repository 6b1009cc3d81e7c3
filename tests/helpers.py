"""Tiny data and configs so every test runs in seconds on a CPU (imported by the tests)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from schemas.artifacts import Row
from schemas.config import Config, load_config
from schemas.layout import Layout

ROOT = Path(__file__).resolve().parents[1]  # the repository

TINY_MODELS = {
    "rnn": {"hidden": 8, "layers": 1},
    "lstm": {"hidden": 8, "layers": 1},
    "gru": {"hidden": 8, "layers": 1},
    "hybrid": {"hidden": 8},
    "transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16},
}


def forecast_frame(n_series: int = 2, length: int = 80, seed: int = 0) -> pl.DataFrame:
    """Seasonal series with a covariate; dates as the time column."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    rows = []
    for s in range(n_series):
        promo = (rng.random(length) < 0.2).astype(float)
        noise = rng.normal(0, 0.3, length)
        y = 10 + 5 * s + 2 * np.sin(2 * np.pi * t / 7) + 3 * np.roll(promo, 3) + noise
        days = [date(2024, 1, 1) + timedelta(days=int(i)) for i in t]
        rows.append(pl.DataFrame({"unique_id": f"s{s}", "ds": days, "y": y, "promo": promo}))
    return pl.concat(rows)


def classify_frame(n_seq: int = 48, seed: int = 0) -> pl.DataFrame:
    """Variable-length sequences whose label is the sign of an early marker."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_seq):
        label = ["up", "down"][i % 2]
        n = int(rng.integers(6, 14))
        x = rng.normal(0, 0.3, n)
        x[0] += 2.0 if label == "up" else -2.0
        rows.append(pl.DataFrame({"sequence_id": f"q{i:03d}", "step": np.arange(n),
                                  "f1": x, "f2": rng.normal(0, 1, n), "label": label}))
    return pl.concat(rows)


def tiny_config(data: Path, out: Path, **overrides: object) -> Config:
    """A config with tiny models and a two-epoch budget."""
    base = {"data.path": str(data), "out_dir": str(out), "models": TINY_MODELS,
            "train.max_epochs": 2, "train.patience": 2, "train.batch_size": 16,
            "train.workers": 2, "train.seeds": 1,
            "evaluate.references": False, "forecast.lookback": 8, "forecast.horizon": 3,
            "forecast.folds": 1,  # auto (the default) would train several origins here
            "promote.must_beat": []}  # 8 test items cannot show a model beats a baseline
    return load_config(None, {**base, **overrides})


def at(cfg: Config) -> Layout:
    """The folder a test's stages write into: its config's out_dir (as `seqarena stage`)."""
    return Layout(Path(cfg.out_dir))


def run_stages(cfg: Config) -> dict:
    """validate -> preprocess -> train every model -> evaluate -> promote, without Prefect."""
    from flows.stages.evaluate.stage import run as evaluate
    from flows.stages.preprocess.stage import run as preprocess
    from flows.stages.promote.stage import run as promote
    from flows.stages.train.stage import run as train_jobs
    from flows.stages.validate.stage import run as validate

    layout = at(cfg)
    validate(cfg, layout)
    preprocess(cfg, layout)
    for name in cfg.models:
        train_jobs(cfg, layout, name)
    evaluate(cfg, layout)
    return promote(cfg, layout)


KINDS = {"naive": "baseline", "seasonal_naive": "baseline", "champion": "champion"}


class SeededErrors:
    """Per-item errors drawn from one generator (seed 0): `base` (a best model's 200 items)
    first, then for each `shifted` call small noise around it."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.base = self.rng.gamma(2.0, 0.4, 200)

    def shifted(self, **shifts: float) -> dict[str, list[np.ndarray]]:
        """One run (seed) per model: `base` plus the model's shift and noise of sd 0.01."""
        return {name: [self.base + shift + self.rng.normal(0, 0.01, len(self.base))]
                for name, shift in shifts.items()}


def synthetic_frame(task: str, runs: dict[str, list[np.ndarray]],
                    kinds: dict[str, str] | None = None, seed: int = 0) -> pl.DataFrame:
    """An errors.parquet frame from per-item errors, one array per seed: forecast errors are
    each window's MASE (one series, one window per block); classify errors are 0/1 on two
    balanced classes, the prediction the other class where wrong."""
    from flows.evidence.aggregate import Scored, error_frame

    scored = []
    for name, arrays in runs.items():
        kind = (kinds or {}).get(name, "model")
        for s, e in enumerate(arrays):
            e = np.asarray(e, dtype=float)
            n = len(e)
            common = {"independent": np.ones(n, bool), "stratum": np.zeros(n, int),
                      "block": np.arange(n)}
            if task == "classify":
                truth = np.arange(n) % 2
                common |= {"truth": truth, "pred": np.where(e > 0, 1 - truth, truth),
                           "stratum": truth}
            else:
                common["sums"] = {"abs_error": e, "sq_error": e**2, "smape_error": e}
            scored.append(Scored(name, kind, 0, s if kind == "model" else -1, {}, e, **common))
    return error_frame(scored)


def synthetic_rows(task: str, frame: pl.DataFrame, costs: dict[str, float]) -> list[Row]:
    """Leaderboard rows from a synthetic frame: each metric's mean over seeds, the bootstrap
    interval, and `costs` as both latency and parameters (0 for baselines)."""
    from flows.evidence.aggregate import spread
    from flows.evidence.bootstrap import Bootstrap
    from flows.evidence.scoring import classify_metrics
    from schemas.artifacts import METRICS

    boot, rows = Bootstrap(frame, task), []
    for (name, kind), part in frame.group_by("model", "kind", maintain_order=True):
        per_seed = []
        for _, run in part.group_by("seed", maintain_order=True):
            if task == "classify":
                per_seed.append(classify_metrics(run["truth"].to_numpy(),
                                                 run["pred"].to_numpy(), 2))
            else:
                per_seed.append({m: float(run["error"].mean()) for m in METRICS[task]})
        values = {m: [v[m] for v in per_seed] for m in METRICS[task]}
        rows.append(Row(model=name, kind=kind, status="ok",
                        **{m: float(np.mean(v)) for m, v in values.items()},
                        interval={m: spread(name, m, v, boot) for m, v in values.items()},
                        params=int(costs.get(name, 0)), latency_ms=costs.get(name, 0.0)))
    return rows


def drain_prefect_events() -> None:
    """Send this process's queued Prefect events now, while their server is up: the events
    worker is one per process, and once its server stops it would retry every queued event
    against it (1.5 s each) in whichever test comes next."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=60)


def chromium() -> str:
    """Debian's chromium; a skip where it is absent, a failure under CI (.ci/run installs it)."""
    import os
    import shutil

    import pytest

    path = shutil.which("chromium")
    if path is None and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI=true but chromium is missing: .ci/chromium should have installed it")
    if path is None:
        pytest.skip("Debian's chromium is not installed (bash .ci/chromium installs it)")
    return path
