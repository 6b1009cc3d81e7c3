"""The data contract after parsing: one pandera schema (polars backend) per validation stage.

Each check is named after its defect (`schemas.defects`) and is True on every row that is
fine, so pandera's failure cases are the offending rows. `GROUP` holds the series or
sequence key as text; frames reach the series/sequence stages sorted by (GROUP, time).
"""

from __future__ import annotations

import math

import pandera.polars as pa
import polars as pl

from schemas.config import ForecastConfig, ValidationConfig
from schemas.data import HUGE, SPLITS, Roles

GROUP, ROW, FILLED = "__group", "__row", "__filled"
MIN_CLASS_SEQUENCES = 3  # one each for train, val and test


def rule(defect: str, expr: pl.Expr) -> pa.Check:
    """A pandera check named after the defect: `expr` is True on every row that is fine."""
    return pa.Check(lambda d: d.lazyframe.select(expr.fill_null(True).alias(defect)),
                    name=defect, error=defect)



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


def grid_schema(roles: Roles, idx: pl.Expr) -> pa.DataFrameSchema:
    """Forecasting: every time on its series' regular step; `idx` is each row's position on
    its series' grid, fractional when off it (flows.stages.validate.grid.grid_index)."""
    return _schema({roles.time: [rule("irregular", idx == idx.floor())]})


def gaps_schema(roles: Roles, missing: pl.Expr) -> pa.DataFrameSchema:
    """Forecasting: no missing steps inside a series; `missing` counts the grid steps missing
    just before each row (flows.stages.validate.grid.missing_steps)."""
    return _schema({roles.time: [rule("gaps", missing == 0)]})


def min_series_length(fc: ForecastConfig, pinned_splits: bool) -> int:
    """Rows a series needs for at least one window in each split it is cut into by time
    (`flows.stages.preprocess.stage._time_split`); with a split column, rows for one window."""
    span = fc.lookback + fc.horizon
    if pinned_splits:
        return span
    tf, vf = fc.test_fraction, fc.val_fraction
    # necessary: ceil(n f) >= horizon for both splits, and n (1 - tf - vf) >= span; start just
    # below those bounds (floats), so that the search takes a few steps, not n of them
    n = max(span, math.floor((fc.horizon - 1) / min(tf, vf)) - 1,
            math.floor(span / (1 - tf - vf)) - 1)
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
    without 'val' rows has val carved from train (flows.stages.preprocess.stage), so a class
    then needs two train sequences (one to carve) and a test one."""
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
