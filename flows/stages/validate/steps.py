"""The validation steps in order: parse types, then values and order (every task), then the
forecasting grid, gaps and series, or the classification sequences and classes. Each step
applies a pandera schema of schemas/rules.py through the Checker, under the user's policy."""

from __future__ import annotations

import bisect
from dataclasses import asdict

import polars as pl

from flows.stages.validate.checker import Checker, Finding
from flows.stages.validate.grid import Step, grid_index, infer_step, missing_steps, season_of
from flows.stages.validate.parse import parse_schema, text, time_plan, typed
from flows.stages.validate.repair import earlier_duplicates, fill_gaps
from schemas.config import ForecastConfig, ValidationConfig
from schemas.errors import UsageError
from schemas.rules import (
    GROUP,
    ROW,
    classes_schema,
    gaps_schema,
    grid_schema,
    min_series_length,
    order_schema,
    sequences_schema,
    series_schema,
    values_schema,
)

MIN_LOOKBACK = 32  # input steps when forecast.lookback is unset, if the series allow
MAX_AUTO_LOOKBACK = 512  # at most, whatever the season (1-minute data has 1,440 a day)


def _values_in(frame: pl.DataFrame, col: str, markers: list[str]) -> int:
    """How many cells of a column hold something (text, or a number that is not NaN)."""
    if frame.schema[col] == pl.String:
        return int(frame.select(text(col, markers).count()).item())
    x = pl.col(col).cast(pl.Float64, strict=False)
    return int(frame.select((x.is_not_null() & x.is_not_nan()).sum()).item())


def parse_and_check_values(checker: Checker, v: ValidationConfig) -> dict[str, str]:
    """Stages every task shares: parse, empty features, values, order. Returns report facts."""
    r = checker.roles
    numeric = [c for c in (r.target, *r.features) if c]
    plan = time_plan(checker.frame, r.time, v.missing_values)
    if plan.dtype == "other":  # a duration or time of day: report its values as text
        shown = [None if x is None else str(x) for x in checker.frame[r.time].to_list()]
        checker.frame = checker.frame.with_columns(pl.Series(r.time, shown, pl.String))
    empty = [c for c in r.features if _values_in(checker.frame, c, v.missing_values) == 0]
    checker.stage(parse_schema(checker.frame, numeric, r.time, plan, v.missing_values))
    keys = [c for c in (r.id, r.label, r.split) if c]
    checker.frame = typed(checker.frame, numeric, r.time, plan, v.missing_values, keys)
    for c in empty:
        checker.column_defect("empty_feature", c, "left out of the features")
    checker.drop_features(empty)
    if r.task == "classify" and empty and not checker.roles.features:
        checker.findings.append(Finding("empty_feature", ", ".join(empty), "rejected", 0, 0,
                                        note="no feature column is left"))
    checker.stage(values_schema(checker.roles, v))
    fixes = checker.stage(order_schema(checker.roles))
    if "duplicate" in fixes:
        earlier = earlier_duplicates(checker.frame, fixes["duplicate"], r.time)
        checker.set_aside(earlier, "quarantined", "duplicate", r.time)
        checker.frame = checker.frame.filter(~pl.col(ROW).is_in(earlier.implode()))
        checker.note("duplicate", f"kept the last of each; {len(earlier)} earlier rows quarantined")
    checker.frame = checker.frame.sort(GROUP, r.time, ROW, nulls_last=True)
    if "unsorted" in fixes:
        checker.note("unsorted", "sorted by id, then time")
    return {"time_format": plan.describe()}


def check_forecast(checker: Checker, v: ValidationConfig, fc: ForecastConfig, path: str
                   ) -> dict[str, str]:
    """Forecasting: a regular step, no gaps (or filled), long and varying series (`path`:
    the file, for messages)."""
    r = checker.roles
    dtype = checker.frame.schema[r.time]
    step = infer_step(checker.frame.filter(pl.col(ROW).is_not_null()), r.time)
    checker.stage(grid_schema(r, grid_index(r.time, dtype, step)), whole_groups=True)
    missing = missing_steps(r, dtype, step)
    steps = checker.untainted().with_columns(missing.alias("__missing"))
    gaps = int(steps["__missing"].sum())
    to_fix = checker.stage(gaps_schema(r, missing), whole_groups=True)
    checker.note("gaps", f"{gaps} steps missing")
    if to_fix:  # the `fix` policy set nothing aside, so `steps` still matches the frame
        gaps = _refuse_long_fills(checker, steps)
        checker.frame = fill_gaps(checker.frame, r, step, v.fill)
        checker.note("gaps", f"inserted {gaps} steps, filled by {v.fill}", action="fixed")
    fc, inferred = forecast_shape(fc, step, checker.untainted(), r.split is not None)
    _refuse_unfit_horizon(fc, checker.untainted(), r.split is not None, path)
    checker.stage(series_schema(r, fc), whole_groups=True)
    return {"step": step.describe(), "grid": asdict(step), "season": fc.season,
            "lookback": fc.lookback,
            "inferred_settings": inferred}


def forecast_shape(fc: ForecastConfig, step: Step, frame: pl.DataFrame,
                   pinned: bool) -> tuple[ForecastConfig, list[str]]:
    """forecast.season and forecast.lookback, the user's or inferred (and which were): the
    season from the time step; a lookback of max(MIN_LOOKBACK, two seasons) up to
    MAX_AUTO_LOOKBACK, shortened so the median series still has windows in every split (not
    below min(season, MIN_LOOKBACK), and no shorter than needed where the split sizes, not
    the lookback, set the length a series needs)."""
    season = fc.season or season_of(step)
    inferred = [] if fc.season else ["season"]
    if fc.lookback:
        return fc.model_copy(update={"season": season}), inferred

    def needs(lookback: int) -> int:
        return min_series_length(fc.model_copy(update={"lookback": lookback}), pinned)

    want = min(max(MIN_LOOKBACK, 2 * season), MAX_AUTO_LOOKBACK)
    lowest = min(season, MIN_LOOKBACK)
    median = int(frame.group_by(GROUP).len()["len"].median() or 0)
    enough = max(median, needs(lowest))  # when the splits alone need more, so be it
    candidates = range(lowest, want + 1)  # needs() grows with the lookback: bisect
    lookback = candidates[max(0, bisect.bisect_right(candidates, enough, key=needs) - 1)]
    return fc.model_copy(update={"season": season, "lookback": lookback}), [*inferred, "lookback"]


def _refuse_unfit_horizon(fc: ForecastConfig, frame: pl.DataFrame, pinned: bool,
                        path: str) -> None:
    """A horizon longer than the longest series is a configuration error, said before any
    series is set aside (shorter series stay a data defect, `short_series`): with the largest
    horizon that would fit."""
    longest = int(frame.group_by(GROUP).len()["len"].max() or 0)  # type: ignore[arg-type]
    if not longest or fc.horizon <= longest:
        return
    need = min_series_length(fc, pinned)

    def needs(horizon: int) -> int:
        return min_series_length(fc.model_copy(update={"horizon": horizon}), pinned)

    fits = bisect.bisect_right(range(1, longest + 1), longest, key=needs)
    fix = (f"use forecast.horizon={fits} or less" if fits else
           "use a shorter forecast.lookback") + " (or longer series)"
    raise UsageError(
        f"{path}: forecast.horizon={fc.horizon} with lookback {fc.lookback} needs series of at "
        f"least {need:,} rows (a window in each of train, val and test), but the longest "
        f"series has {longest:,}; {fix}.")


def _refuse_long_fills(checker: Checker, frame: pl.DataFrame) -> int:
    """`gaps: fix` must not invent more rows than a series has: such series (often a typo
    in one time) are rejected instead. `frame` has each row's `__missing` steps before it.
    Returns the steps left to insert."""
    r = checker.roles
    per = frame.group_by(GROUP).agg(pl.col("__missing").sum().alias("missing"),
                                    pl.len().alias("rows"))
    bad = per.filter(pl.col("missing") > pl.col("rows"))
    if bad.height:
        rows = checker.frame.filter(pl.col(GROUP).is_in(bad[GROUP].implode()))[ROW]
        checker.set_aside(rows, "rejected", "gaps", r.time)
        worst = bad.sort("missing", descending=True).row(0, named=True)
        at = frame.filter(pl.col(GROUP).is_in(bad[GROUP].implode()) & (pl.col("__missing") > 0))
        checker.findings.append(Finding(
            "gaps", r.time, "rejected", at.height, bad.height,
            where=checker.table.where_text(at[ROW].drop_nulls().to_list()),
            note=f"too long to fill: series {worst[GROUP]!r} would get {int(worst['missing'])} "
                 f"inserted steps for {worst['rows']} rows; check its times"))
        checker.frame = checker.frame.filter(~pl.col(GROUP).is_in(bad[GROUP].implode()))
    return int(per.filter(pl.col("missing") <= pl.col("rows"))["missing"].sum())


def check_classify(checker: Checker, v: ValidationConfig) -> None:
    """Classification: one label and split per sequence, long enough, classes in every split."""
    checker.stage(sequences_schema(checker.roles, v), whole_groups=True)
    checker.stage(classes_schema(checker.roles), whole_groups=True)
