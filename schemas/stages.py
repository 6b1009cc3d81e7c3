"""Contracts between stages: fitted scaling state and the evaluation leaderboard."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

KINDS = ["model", "baseline", "reference", "champion"]  # leaderboard row kinds


def _finite(name: str) -> pa.Check:
    return pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).is_finite()), name=name)


# one row per (series, column): statistics fitted on the training split only
scaling_schema = pa.DataFrameSchema(
    {
        "series": pa.Column(str, nullable=False),
        "column": pa.Column(str, nullable=False),
        "mean": pa.Column(pl.Float64, nullable=False, checks=[_finite("finite_mean")]),
        "std": pa.Column(pl.Float64, nullable=False, checks=[_finite("finite_std"),
                                                             pa.Check.gt(0)]),
    },
    unique=["series", "column"],
    strict=True,
)

# one row per model or baseline; metric columns vary by task and are checked to be finite
leaderboard_schema = pa.DataFrameSchema(
    {
        "model": pa.Column(str, nullable=False, unique=True),
        "kind": pa.Column(str, checks=[pa.Check.isin(KINDS)]),
        "status": pa.Column(str, checks=[pa.Check.isin(["ok", "failed", "skipped"])]),
        "params": pa.Column(pl.Int64, checks=[pa.Check.ge(0)]),
        "train_seconds": pa.Column(pl.Float64, nullable=True, checks=[pa.Check.ge(0)]),
        "latency_ms": pa.Column(pl.Float64, nullable=True, checks=[pa.Check.ge(0)]),
        "size_bytes": pa.Column(pl.Int64, checks=[pa.Check.ge(0)]),
    },
    strict=False,
)
