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
HUGE = 1e150  # beyond this, squares overflow float64: scaling statistics become inf


def _schema(columns: dict[str, list[pa.Check]]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({c: pa.Column(nullable=True, checks=ks) for c, ks in columns.items()
                               if ks}, strict=False)


def present(col: str) -> pl.Expr:
    """A value that is neither null, NaN nor blank text."""
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return s.is_not_null() & ~s.is_in(["", "NaN", "nan"])


def values_schema(roles: Roles, v: ValidationConfig) -> pa.DataFrameSchema:
    """Missing, infinite and out-of-bounds values; labels and split values."""
    checks: dict[str, list[pa.Check]] = {}
    for c in [roles.target, *roles.features] if roles.target else list(roles.features):
        x = pl.col(c)
        checks[c] = [rule("missing", x.is_not_null() & x.is_not_nan()),
                     rule("infinite", x.is_nan() | (x.abs() <= HUGE))]
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
    """The regular step of a forecasting time column: `every` units, or calendar `months`.
    `wall`: count time-zone-aware times on the local clock (daily or longer steps, so that
    local midnights stay one day apart across daylight-saving changes)."""

    every: int = 1
    unit: str = "step"  # "us" (datetimes), "d" (dates) or "step" (integers)
    months: int = 0
    wall: bool = False

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


DAY_US = 86_400_000_000


def as_int(time: str, dtype: pl.DataType, wall: bool = False) -> tuple[pl.Expr, str]:
    """The time column as integers, and their unit."""
    t = pl.col(time)
    if dtype == pl.Date:
        return t.cast(pl.Int64), "d"
    if isinstance(dtype, pl.Datetime):
        local = t.dt.replace_time_zone(None) if wall and dtype.time_zone else t
        return local.dt.epoch("us"), "us"
    return t.cast(pl.Int64), "step"


def infer_step(frame: pl.DataFrame, time: str) -> Step:
    """The most common positive step between consecutive times of a series; a step of about
    a month, quarter or year whose length varies is a calendar step."""
    dtype = frame.schema[time]
    x, unit = as_int(time, dtype)
    diffs = frame.sort(GROUP, time).select(x.diff().over(GROUP).alias("d"))["d"]
    diffs = diffs.filter(diffs > 0)
    if diffs.is_empty():
        return Step(unit=unit)
    every = int(diffs.mode().min())  # type: ignore[arg-type]
    day = {"d": 1, "us": DAY_US}.get(unit)
    if day:
        for months, low, high in ((1, 28, 31), (3, 89, 92), (12, 365, 366)):
            near = diffs.filter((diffs >= low * day) & (diffs <= high * day))
            if low * day <= every <= high * day and near.n_unique() > 1:
                return Step(unit=unit, months=months)
    wall = unit == "us" and every >= DAY_US - 3_600_000_000 and bool(
        getattr(dtype, "time_zone", None))
    if wall:
        x, _ = as_int(time, dtype, wall=True)
        local = frame.sort(GROUP, time).select(x.diff().over(GROUP).alias("d"))["d"]
        every = int(local.filter(local > 0).mode().min())  # type: ignore[arg-type]
    return Step(every=every, unit=unit, wall=wall)


def _first_on_grid(idx: pl.Expr, on: pl.Expr) -> pl.Expr:
    return pl.when(on).then(idx).otherwise(None).min().over(GROUP)


def grid_index(time: str, dtype: pl.DataType, step: Step) -> pl.Expr:
    """Each row's position on its series' grid, 0 at the series' first on-grid time; a
    fractional position (x.5) means the time is off the grid. The grid's phase is the one
    most of the series' times share, so one odd first time does not shift the rest."""
    t = pl.col(time)
    if step.months:
        month = t.dt.year().cast(pl.Int64) * 12 + t.dt.month().cast(pl.Int64)
        first = t.sort().first().over(GROUP)
        day_ok = (t.dt.day() == pl.min_horizontal(first.dt.day(), t.dt.month_end().dt.day())) | (
            (t.dt.month_end() == t) & (first.dt.month_end() == first))
        if isinstance(dtype, pl.Datetime):
            day_ok = day_ok & (t.dt.time() == first.dt.time())
        phase = (month % step.months).mode().min().over(GROUP)
        on = day_ok & (month % step.months == phase)
        idx = (month - phase) // step.months
    else:
        x, _ = as_int(time, dtype, step.wall)
        phase = (x % step.every).mode().min().over(GROUP)
        on = x % step.every == phase
        idx = (x - phase) // step.every
    idx = idx - _first_on_grid(idx, on)
    return idx.cast(pl.Float64) + pl.when(on).then(0.0).otherwise(0.5)


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
    """Classification: every class has sequences for train, val and test. A split column
    without 'val' rows has val carved from train (flows.preprocess), so a class then needs
    two train sequences (one to carve) and a test one."""
    label = roles.label
    if roles.split:
        split = pl.col(roles.split)

        def count(name: str) -> pl.Expr:
            return pl.col(GROUP).filter(split == name).n_unique().over(label)

        carved = (count("train") >= MIN_CLASS_SEQUENCES - 1) & (count("test") >= 1)
        spread = pl.when((split == "val").any()).then(split.n_unique().over(label) >= 3) \
            .otherwise(carved)
    else:
        spread = pl.col(GROUP).n_unique().over(label) >= MIN_CLASS_SEQUENCES
    return _schema({label: [rule("rare_class", spread)]})  # type: ignore
