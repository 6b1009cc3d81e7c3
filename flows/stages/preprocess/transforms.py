"""Polars transforms that preprocessing and `predict` apply alike: train-fitted scaling,
unpadded sequences, truncation to classify.max_length."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from schemas.data import SPLITS
from schemas.stages import scaling_schema

SID, SPLIT = "__series", "__split"
CODE = {s: i for i, s in enumerate(SPLITS)}  # train 0, val 1, test 2


def fit_scaling(df: pl.DataFrame, columns: list[str], by: str) -> pl.DataFrame:
    """Mean and std per (group, column) on training rows; a zero or undefined std becomes 1."""
    train = df.filter(pl.col(SPLIT) == "train")
    stats = pl.concat([
        train.group_by(by).agg(pl.lit(c).alias("column"), pl.col(c).mean().alias("mean"),
                               pl.col(c).std().alias("std"))
        for c in columns
    ]).rename({by: "series"})
    stats = stats.with_columns(
        pl.col("series").cast(pl.String),
        pl.when(pl.col("std") > 0).then(pl.col("std")).otherwise(1.0).alias("std"),
    ).sort("series", "column")
    return scaling_schema.validate(stats)


def apply_scaling(df: pl.DataFrame, stats: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Standardise each column with its group's training statistics."""
    wide = stats.pivot(on="column", index="series", values=["mean", "std"])
    df = df.join(wide, left_on=pl.col(SID).cast(pl.String), right_on="series", how="left",
                 maintain_order="left")
    return df.with_columns(((pl.col(c) - pl.col(f"mean_{c}")) / pl.col(f"std_{c}")).alias(c)
                           for c in columns)


def ragged_sequences(df: pl.DataFrame, seq: str, feats: list[str],
                     *extra: pl.Expr) -> tuple[np.ndarray, pl.DataFrame]:
    """The (sum of lengths, F) float32 rows of sequences sorted by (seq, time), unpadded, and
    one row per sequence (its id, `len` and any `extra` aggregations) in the same order."""
    meta = df.group_by(seq, maintain_order=True).agg(*extra, pl.len())
    return df.select(feats).to_numpy().astype(np.float32).reshape(-1, len(feats)), meta


def truncate(df: pl.DataFrame, seq: str, max_length: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rows sorted by (seq, time) cut to each sequence's first `max_length` steps (a label may
    be set early; the steps kept stay at their sampling rate), and what was cut."""
    lengths = df.group_by(seq, maintain_order=True).len()
    cut = lengths.filter(pl.col("len") > max_length)
    if cut.height:
        df = df.filter(pl.int_range(pl.len()).over(seq) < max_length)
    return df, {"count": cut.height, "max_length": max_length, "ids": cut[seq].to_list(),
                "lengths": cut["len"].to_list()}
