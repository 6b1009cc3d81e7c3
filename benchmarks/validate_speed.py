"""How long `validate` takes on a large forecasting CSV, clean and with defects.

    python benchmarks/validate_speed.py [--rows 1000000] [--series 1000]

Writes the files under a temporary folder; prints seconds per run (best of 3) and peak
resident memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from flows.stages.validate.stage import run as validate
from schemas.config import load_config
from schemas.layout import Layout


def make(path: Path, rows: int, series: int, defects: bool) -> None:
    length = rows // series
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({
        "unique_id": np.repeat([f"s{i:05d}" for i in range(series)], length),
        "ds": np.tile(np.datetime64("2000-01-01") + np.arange(length), series),
        "y": rng.normal(10, 2, length * series),
        "promo": rng.integers(0, 2, length * series).astype(float),
    })
    if defects:  # 0.1% missing targets, one bad word, every 100th series loses a step
        y = frame["y"].to_numpy().copy()
        y[rng.choice(len(y), len(y) // 1000, replace=False)] = np.nan
        frame = frame.with_columns(pl.Series("y", y).cast(pl.String))
        frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == len(y) // 2)
                                   .then(pl.lit("n/a?")).otherwise(pl.col("y")).alias("y"))
        gap = (pl.int_range(pl.len()).over("unique_id") == length // 2) & \
            (pl.col("unique_id").str.slice(1).cast(pl.Int64) % 100 == 0)
        frame = frame.filter(~gap)
    frame.write_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for defects in (False, True):
            path = Path(tmp) / f"data_{defects}.csv"
            make(path, args.rows, args.series, defects)
            overrides = {"data.path": str(path), "out_dir": f"{tmp}/out"}
            if defects:
                overrides |= {"validation.policy.missing": "quarantine",
                              "validation.policy.not_numeric": "quarantine",
                              "validation.policy.gaps": "fix"}
            cfg = load_config(None, overrides)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                validate(cfg, Layout(Path(cfg.out_dir)))
                times.append(time.perf_counter() - start)
            size = path.stat().st_size / 1e6
            print(f"{'with defects' if defects else 'clean':>12}: {args.rows:,} rows, "
                  f"{size:.0f} MB CSV, best {min(times):.2f} s of {len(times)}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
