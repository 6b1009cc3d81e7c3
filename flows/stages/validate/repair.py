"""The safe fixes a policy may ask for: keep the last duplicate, insert missing steps."""

from __future__ import annotations

from typing import Literal

import polars as pl

from flows.stages.validate.grid import DAY_US, Step, grid_index
from schemas.data import Roles
from schemas.rules import FILLED, GROUP, ROW

Fill = Literal["interpolate", "forward", "zero"]


def earlier_duplicates(frame: pl.DataFrame, hit: pl.DataFrame, time: str) -> pl.Series:
    """Of the duplicated rows in `hit`, all but the last (in file order) of each (id, time)."""
    last = frame.group_by(GROUP, time).agg(pl.col(ROW).max().alias("__last"))
    hit = hit.join(last, on=[GROUP, time], how="left")
    return hit.filter(pl.col(ROW) != pl.col("__last"))[ROW]


def _step_times(first: pl.Expr, idx: pl.Expr, step: Step, dtype: pl.DataType) -> pl.Expr:
    if step.months:
        return first.dt.offset_by(pl.format("{}mo", idx * step.months))
    if step.wall and step.every % DAY_US == 0:  # whole local days, across DST changes
        return first.dt.offset_by(pl.format("{}d", idx * (step.every // DAY_US)))
    if dtype == pl.Date:
        return first + pl.duration(days=idx * step.every)
    if isinstance(dtype, pl.Datetime):
        return first + pl.duration(microseconds=idx * step.every)
    return first + idx * step.every


def fill_gaps(frame: pl.DataFrame, roles: Roles, step: Step, method: Fill) -> pl.DataFrame:
    """Insert the missing steps of each series (sorted by GROUP, time) and fill the target,
    the features and the split by `method`; inserted rows have FILLED true and no ROW."""
    dtype = frame.schema[roles.time]
    idx = frame.with_columns(grid_index(roles.time, dtype, step).alias("__idx"))
    on_grid = idx.filter(pl.col("__idx") == pl.col("__idx").floor())
    heads = on_grid.group_by(GROUP, maintain_order=True).agg(
        pl.col(roles.time).first().alias("__first"), pl.col("__idx").max().cast(pl.Int64),
        *([pl.col(roles.id).first()] if roles.id else []))
    grid = heads.with_columns(pl.int_ranges(0, pl.col("__idx") + 1).alias("__idx")) \
        .explode("__idx")
    present = on_grid.select(GROUP, pl.col("__idx").cast(pl.Int64)).unique()
    new = grid.join(present, on=[GROUP, "__idx"], how="anti").with_columns(
        _step_times(pl.col("__first"), pl.col("__idx"), step, dtype).alias(roles.time),
        pl.lit(True).alias(FILLED), pl.lit(None, pl.Int64).alias(ROW))
    if new.is_empty():
        return frame
    out = pl.concat([frame, new.drop("__first", "__idx")], how="diagonal_relaxed")
    out = out.sort(GROUP, roles.time, nulls_last=True)
    values = [c for c in (roles.target, *roles.features) if c]
    filled = {"interpolate": lambda c: pl.col(c).interpolate().forward_fill().over(GROUP),
              "forward": lambda c: pl.col(c).forward_fill().over(GROUP),
              "zero": lambda c: pl.col(c).fill_null(0.0)}[method]
    carry = [roles.split] if roles.split else []
    return out.with_columns(
        *(pl.when(FILLED).then(filled(c)).otherwise(pl.col(c)).alias(c) for c in values),
        *(pl.when(FILLED).then(pl.col(c).forward_fill().over(GROUP)).otherwise(pl.col(c))
          .alias(c) for c in carry))
