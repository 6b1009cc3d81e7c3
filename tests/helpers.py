"""Tiny data and configs so every test runs in seconds on a CPU (imported by the tests)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from schemas.config import Config, load_config

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
            "evaluate.references": False, "forecast.lookback": 8, "forecast.horizon": 3}
    return load_config(None, {**base, **overrides})


def run_stages(cfg: Config) -> dict:
    """validate -> preprocess -> train every model -> evaluate -> promote, without Prefect."""
    from flows.evaluate import evaluate
    from flows.preprocess import preprocess
    from flows.promote import promote
    from flows.train import train_jobs
    from flows.validate import validate

    validate(cfg)
    preprocess(cfg)
    for name in cfg.models:
        train_jobs(cfg, name)
    evaluate(cfg)
    return promote(cfg)
