"""Deterministic generators for seqarena's bundled demo datasets."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

N_SERIES = 8
N_DAYS = 730
START = dt.date(2023, 1, 1)
PROMO_LAG = 21
PROMO_RATE = 0.1
AR_PHI = 0.5
N_SEQUENCES = 600
MIN_LEN, MAX_LEN = 40, 120
CLASSES = ("up", "down", "flat")
CLASS_PROBS = (0.45, 0.35, 0.20)
MARKER_SIGN = {"up": 2.0, "down": -2.0, "flat": 0.0}
MARKER_PATTERN = np.array([1.0, 0.0, 1.0, 0.0, 1.0])


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """Simulate a stationary AR(1) process of length n."""
    eps = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    out[0] = eps[0] / np.sqrt(1.0 - phi**2)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + eps[t]
    return out


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    """Shift x forward by k steps, filling the start with zeros."""
    return np.concatenate([np.zeros(k), x[:-k]])


def _temperature(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Smooth yearly temperature cycle (peak mid-July) plus daily noise."""
    base = 15.0 + rng.uniform(-3.0, 3.0) - 10.0 * np.cos(2 * np.pi * (t - 15) / 365.25)
    return base + rng.normal(0.0, 1.5, t.size)


def _series(rng: np.random.Generator, level: float) -> dict[str, np.ndarray]:
    """Generate target and covariates for one store."""
    t = np.arange(N_DAYS, dtype=float)
    promo = (rng.random(N_DAYS) < PROMO_RATE).astype(float)
    temp = _temperature(rng, t)
    slope = rng.uniform(-0.02, 0.05) * level / 100.0
    weekly = rng.uniform(0.05, 0.15) * level * np.sin(2 * np.pi * t / 7 + rng.uniform(0, 2 * np.pi))
    yearly = rng.uniform(0.05, 0.1) * level * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, np.pi))
    noise = _ar1(rng, N_DAYS, AR_PHI, 0.04 * level)
    beta = rng.uniform(0.1, 0.2) * level
    gamma = rng.uniform(0.002, 0.006) * level
    y = level + slope * t + weekly + yearly + noise
    y = y + beta * _lag(promo, PROMO_LAG) + gamma * (temp - 15.0)
    return {"y": np.clip(y, 1.0, None), "promo": promo, "temperature": temp}


def make_forecast_demo(seed: int = 0) -> pl.DataFrame:
    """Daily sales for 8 stores with a 21-day promotion lag effect."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(50.0, 200.0, N_SERIES)
    dates = pl.date_range(START, START + dt.timedelta(days=N_DAYS - 1), "1d", eager=True)
    frames = []
    for i, level in enumerate(levels):
        cols = _series(rng, float(level))
        frames.append(
            pl.DataFrame(
                {
                    "unique_id": [f"store_{i + 1:02d}"] * N_DAYS,
                    "ds": dates,
                    **{k: np.round(v, 3) for k, v in cols.items()},
                }
            )
        )
    return pl.concat(frames).select("unique_id", "ds", "y", "promo", "temperature")


def _sequence(rng: np.random.Generator, label: str, length: int) -> dict[str, np.ndarray]:
    """Generate one sequence whose label is encoded only in its first 5 steps."""
    signal = rng.normal(0.0, 1.0, length)
    head = MARKER_PATTERN.size
    signal[:head] = MARKER_SIGN[label] * MARKER_PATTERN + rng.normal(0.0, 0.3, head)
    noise_level = 1.0 + np.cumsum(rng.normal(0.0, 0.1, length))
    return {"signal": signal, "noise_level": noise_level}


def make_classify_demo(seed: int = 0) -> pl.DataFrame:
    """Labelled sequences where the class marker sits in the first 5 steps."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(CLASSES), size=N_SEQUENCES, p=CLASS_PROBS)
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=N_SEQUENCES)
    frames = []
    for i, (lab, n) in enumerate(zip(labels, lengths, strict=True)):
        label = CLASSES[int(lab)]
        cols = _sequence(rng, label, int(n))
        frames.append(
            pl.DataFrame(
                {
                    "sequence_id": [f"seq_{i:04d}"] * int(n),
                    "step": np.arange(n, dtype=np.int64),
                    **{k: np.round(v, 4) for k, v in cols.items()},
                    "label": [label] * int(n),
                }
            )
        )
    return pl.concat(frames)


def write_demo(out_dir: Path) -> list[Path]:
    """Write forecast.csv and classify.csv into out_dir and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "forecast.csv", out_dir / "classify.csv"]
    make_forecast_demo().write_csv(paths[0], date_format="%Y-%m-%d")
    make_classify_demo().write_csv(paths[1])
    return paths


def main() -> None:
    """Command-line entry point: write the demo datasets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", nargs="?", default="data", type=Path)
    for path in write_demo(parser.parse_args().out_dir):
        print(path)


if __name__ == "__main__":
    main()
