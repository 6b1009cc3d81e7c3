"""The data contract after parsing: one pandera schema (polars backend) per validation stage.

Each check is named after its defect (`schemas.defects`) and is True on every row that is
fine, so pandera's failure cases are the offending rows. `GROUP` holds the series or
sequence key as text; frames reach the series/sequence stages sorted by (GROUP, time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.config import ForecastConfig, ValidationConfig
from schemas.data import SPLITS, Roles
from schemas.parse import rule

GROUP, ROW, FILLED = "__group", "__row", "__filled"
MIN_CLASS_SEQUENCES = 3  # one each for train, val and test


def _schema(columns: dict[str, list[pa.Check]]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({c: pa.Column(nullable=True, checks=ks) for c, ks in columns.items()
                               if ks}, strict=False)


def present(col: str) -> pl.Expr:
    """A value that is neither null nor blank text."""
    return pl.col(col).cast(pl.String).str.strip_chars().str.len_chars().fill_null(0) > 0


def values_schema(roles: Roles, v: ValidationConfig) -> pa.DataFrameSchema:
    """Missing, infinite and out-of-bounds values; labels and split values."""
    checks: dict[str, list[pa.Check]] = {}
    for c in [roles.target, *roles.features] if roles.target else list(roles.features):
        x = pl.col(c)
        checks[c] = [rule("missing", x.is_not_null() & x.is_not_nan()),
                     rule("infinite", ~x.is_infinite())]
        bounds = v.bounds.get(c)
        if bounds is not None:
            low = x >= bounds.min if bounds.min is not None else pl.lit(True)
            high = x <= bounds.max if bounds.max is not None else pl.lit(True)
            checks[c].append(rule("out_of_bounds", (low & high) | ~x.is_finite()))
    for c in (roles.id, roles.time):
        if c:
            checks.setdefault(c, []).append(rule("missing", present(c)))
    if roles.label:
        checks[roles.label] = [rule("missing_label", present(roles.label))]
    if roles.split:
        ok = pl.col(roles.split).cast(pl.String).str.strip_chars().is_in(SPLITS).fill_null(False)
        checks[roles.split] = [rule("bad_split", ok)]
    return _schema(checks)


def order_schema(roles: Roles) -> pa.DataFrameSchema:
    """One row per (id, time), and time increasing within each series, in file order."""
    t = pl.col(roles.time)
    duplicate = t.is_not_null() & pl.struct(GROUP, roles.time).is_duplicated()
    return _schema({roles.time: [rule("duplicate", ~duplicate),
                                 rule("unsorted", ~(t < t.shift(1).over(GROUP)))]})


@dataclass(frozen=True)
class Step:
    """The regular step of a forecasting time column: `every` units, or calendar `months`."""

    every: int = 1
    unit: str = "step"  # "us" (datetimes), "d" (dates) or "step" (integers)
    months: int = 0

    def describe(self) -> str:
        """For the report: '1 day', '1 hour', '1 month', '7 steps'."""
        if self.months:
            return {1: "1 month", 3: "1 quarter", 12: "1 year"}[self.months]
        if self.unit == "step":
            return f"{self.every} step{'s' if self.every != 1 else ''}"
        seconds = self.every * (86400 if self.unit == "d" else 1e-6)
        for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds >= size and float(seconds / size).is_integer():
                n = int(seconds / size)
                return f"{n} {name}{'s' if n != 1 else ''}"
        return f"{seconds} seconds"


def as_int(time: str, dtype: pl.DataType) -> tuple[pl.Expr, str]:
    """The time column as integers, and their unit."""
    t = pl.col(time)
    if dtype == pl.Date:
        return t.cast(pl.Int64), "d"
    if isinstance(dtype, pl.Datetime):
        return t.dt.epoch("us"), "us"
    return t.cast(pl.Int64), "step"


def infer_step(frame: pl.DataFrame, time: str) -> Step:
    """The most common positive step between consecutive times of a series; a step of about
    a month, quarter or year that varies in length is taken as a calendar step."""
    x, unit = as_int(time, frame.schema[time])
    diffs = frame.sort(GROUP, time).select(x.diff().over(GROUP).alias("d"))["d"]
    diffs = diffs.filter(diffs > 0)
    if diffs.is_empty():
        return Step(unit=unit)
    every = int(diffs.mode().min())  # type: ignore[arg-type]
    day = {"d": 1, "us": 86_400_000_000}.get(unit)
    if day and diffs.n_unique() > 1:
        for months, low, high in ((1, 28, 31), (3, 89, 92), (12, 365, 366)):
            if low * day <= every <= high * day:
                return Step(unit=unit, months=months)
    return Step(every=every, unit=unit)


def grid_index(time: str, dtype: pl.DataType, step: Step) -> pl.Expr:
    """Each row's position on its series' grid, counted from the series' first time; a
    fractional position means the time is off the grid."""
    t = pl.col(time)
    if step.months:
        month = t.dt.year().cast(pl.Int64) * 12 + t.dt.month().cast(pl.Int64)
        moved = month - month.first().over(GROUP)
        on_day = t == t.first().over(GROUP).dt.offset_by(pl.format("{}mo", moved))
        return moved / step.months + pl.when(on_day).then(0.0).otherwise(0.5)
    x, _ = as_int(time, dtype)
    return (x - x.first().over(GROUP)) / step.every


def grid_schema(roles: Roles, dtype: pl.DataType, step: Step) -> pa.DataFrameSchema:
    """Forecasting: every time on its series' regular step."""
    idx = grid_index(roles.time, dtype, step)
    return _schema({roles.time: [rule("irregular", idx == idx.floor())]})


def missing_steps(roles: Roles, dtype: pl.DataType, step: Step) -> pl.Expr:
    """How many grid steps are missing just before each row (0 when none)."""
    idx = grid_index(roles.time, dtype, step)
    on = idx == idx.floor()
    previous = pl.when(on).then(idx).otherwise(None).forward_fill().shift(1).over(GROUP)
    return pl.when(on).then(idx - previous - 1).otherwise(0).fill_null(0)


def gaps_schema(roles: Roles, dtype: pl.DataType, step: Step) -> pa.DataFrameSchema:
    """Forecasting: no missing steps inside a series."""
    return _schema({roles.time: [rule("gaps", missing_steps(roles, dtype, step) == 0)]})


def min_series_length(fc: ForecastConfig, pinned_splits: bool) -> int:
    """Rows a series needs for at least one window in each split it is cut into by time
    (`flows.preprocess._time_split`); with a split column, rows for one window."""
    span = fc.lookback + fc.horizon
    if pinned_splits:
        return span
    n = span
    while True:
        n_test, n_val = math.ceil(n * fc.test_fraction), math.ceil(n * fc.val_fraction)
        if min(n_test, n_val) >= fc.horizon and n - n_test - n_val >= span:
            return n
        n += 1


def series_schema(roles: Roles, fc: ForecastConfig) -> pa.DataFrameSchema:
    """Forecasting: series long enough to window, and a target that varies."""
    y = pl.col(roles.target)  # type: ignore[arg-type]
    varies = y.filter(y.is_finite()).n_unique().over(GROUP) > 1
    enough = pl.len().over(GROUP) >= min_series_length(fc, roles.split is not None)
    return _schema({roles.time: [rule("short_series", enough)],
                    roles.target: [rule("constant_series", varies)]})  # type: ignore[dict-item]


def sequences_schema(roles: Roles, v: ValidationConfig) -> pa.DataFrameSchema:
    """Classification: one label and one split per sequence, and enough steps."""
    def same(col: str) -> pl.Expr:
        x = pl.col(col)
        return x.is_null() | (x == x.filter(x.is_not_null()).first().over(GROUP))

    checks = {roles.label: [rule("varying_label", same(roles.label))],  # type: ignore[arg-type]
              roles.time: [rule("short_sequence", pl.len().over(GROUP) >= v.min_sequence_length)]}
    if roles.split:
        checks[roles.split] = [rule("mixed_split", same(roles.split))]
    return _schema(checks)  # type: ignore[arg-type]


def classes_schema(roles: Roles) -> pa.DataFrameSchema:
    """Classification: every class has sequences for train, val and test."""
    label = roles.label
    if roles.split:
        spread = pl.col(roles.split).n_unique().over(label)
    else:
        spread = pl.col(GROUP).n_unique().over(label)
    return _schema({label: [rule("rare_class", spread >= MIN_CLASS_SEQUENCES)]})  # type: ignore
