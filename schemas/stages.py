"""Contracts between stages: fitted scaling state, the evaluation leaderboard and the
forecasts kept for the report."""

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

# forecasts.parquet: a few test windows of fold 0 in the user's units, long: the lookback
# `history` (steps 1-lookback .. 0), the `actual` future and each run's forecast (1 .. horizon)
LINES = ["history", "actual"]  # rows of data, not of a forecast: their `model` is null
FORECASTS = {"series": pl.String, "kind": pl.String, "model": pl.String, "step": pl.Int32,
             "value": pl.Float64}  # the columns, in order
forecasts_schema = pa.DataFrameSchema(
    {
        "series": pa.Column(str, nullable=False),
        "kind": pa.Column(str, checks=[pa.Check.isin(LINES + KINDS)]),
        "model": pa.Column(str, nullable=True),
        "step": pa.Column(pl.Int32, nullable=False),
        "value": pa.Column(pl.Float64, nullable=True),  # null where a forecast was not finite
    },
    checks=[pa.Check(lambda d: d.lazyframe.select(
        pl.col("model").is_null() == pl.col("kind").is_in(LINES)), name="model_iff_forecast")],
    unique=["series", "kind", "model", "step"],
    strict=True,
)
