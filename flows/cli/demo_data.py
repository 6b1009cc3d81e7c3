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
N_SEQUENCES = 1000
MIN_LEN, MAX_LEN = 40, 90
BURST, BURST_SIZE, BURST_WINDOW = 3, 2.0, 10
NOISE = 0.4
SPIKE_RATE, SPIKE_SIZE = 0.1, 2.5
CLASSES = ("up_up", "up_down", "down_up", "down_down")


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
    """One noisy sequence with single-step spikes of either sign and two 3-step bursts:
    one in its first 10 steps, one in its last 10.

    The label names the bursts' directions in order ("up_down": up, then down), so a model
    must tell a burst from a spike and carry the first burst across 20-80 steps.
    """
    signal = rng.normal(0.0, NOISE, length)
    spikes = rng.random(length) < SPIKE_RATE
    signal[spikes] += SPIKE_SIZE * rng.choice([-1.0, 1.0], size=int(spikes.sum()))
    first, second = label.split("_")
    for direction, lo in ((first, 0), (second, length - BURST_WINDOW)):
        start = lo + int(rng.integers(0, BURST_WINDOW - BURST + 1))
        sign = 1.0 if direction == "up" else -1.0
        signal[start:start + BURST] += sign * BURST_SIZE
    return {"signal": signal}


def make_classify_demo(seed: int = 0) -> pl.DataFrame:
    """Labelled sequences whose class is the order of two bursts far apart."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), size=N_SEQUENCES)
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
