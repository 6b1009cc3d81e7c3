"""Prepared data vs the input: a long forecasting CSV through validate + preprocess.

    python benchmarks/prepared_size.py [--rows 2000000] [--series 200]

Writes a CSV of `rows` rows (`series` daily series, a target and two covariates), runs the
validate and preprocess stages, and prints the CSV size, the arrays.npz size, the windows it
holds and the peak resident memory of this process (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from schemas.config import load_config
from schemas.layout import Layout


def write_csv(path: Path, rows: int, series: int) -> None:
    """Seasonal daily series with two covariates."""
    n = rows // series
    rng = np.random.default_rng(0)
    t = np.tile(np.arange(n), series)
    ids = np.repeat([f"s{i:04d}" for i in range(series)], n)
    y = 10 + 2 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.3, len(t))
    days = pl.date_range(pl.date(2000, 1, 1), pl.date(2000, 1, 1) + pl.duration(days=n - 1),
                         eager=True)
    frame = pl.DataFrame({"unique_id": ids, "ds": pl.concat([days] * series), "y": y,
                          "promo": rng.random(len(t)).round(3),
                          "temperature": rng.normal(15, 5, len(t)).round(2)})
    frame.write_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--series", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "long.csv"
        write_csv(data, args.rows, args.series)
        cfg = load_config(None, {"data.path": str(data), "out_dir": str(Path(tmp) / "out")})
        start = time.perf_counter()
        layout = Layout(Path(cfg.out_dir))
        validate(cfg, layout)
        state = preprocess(cfg, layout)
        seconds = time.perf_counter() - start
        npz = layout.arrays
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"rows {args.rows:,}; csv {data.stat().st_size / 2**20:.1f} MiB; arrays.npz "
              f"{npz.stat().st_size / 2**20:.1f} MiB; windows {state.counts}; lookback "
              f"{state.lookback}; validate+preprocess {seconds:.1f} s; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
