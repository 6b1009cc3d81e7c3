"""The regular time step of forecasting data: inferred from the times, and each row's
position on its series' grid (for the `irregular` and `gaps` rules and for gap filling)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.data import Roles
from schemas.rules import GROUP


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


def missing_steps(roles: Roles, dtype: pl.DataType, step: Step) -> pl.Expr:
    """How many grid steps are missing just before each row (0 when none)."""
    idx = grid_index(roles.time, dtype, step)
    on = idx == idx.floor()
    previous = pl.when(on).then(idx).otherwise(None).forward_fill().shift(1).over(GROUP)
    return pl.when(on).then(idx - previous - 1).otherwise(0).fill_null(0)


SEASONS_BY_MONTHS = {1: 12, 3: 4, 12: 1}  # monthly, quarterly, yearly
SEASONS_BY_SECONDS = {3600: 24, 86400: 7, 7 * 86400: 52}  # hourly, daily, weekly


def season_of(step: Step) -> int:
    """The usual season length for a time step: hourly 24, daily 7, weekly 52, monthly 12,
    quarterly 4, yearly 1; a step that divides a day gives the steps per day; otherwise 1."""
    if step.months:
        return SEASONS_BY_MONTHS.get(step.months, 1)
    if step.unit == "step":
        return 1
    seconds = step.every * (86400 if step.unit == "d" else 1e-6)
    if seconds in SEASONS_BY_SECONDS:
        return SEASONS_BY_SECONDS[int(seconds)]
    per_day = 86400 / seconds if seconds else 0
    return int(per_day) if per_day > 1 and float(per_day).is_integer() else 1
