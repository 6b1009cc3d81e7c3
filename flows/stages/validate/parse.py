"""Types from text: which columns hold numbers, how the time column is written, and the
pandera checks of the `parse` stage (values that are not numbers, times in another format
or UTC offset than the rest of their column)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.rules import rule

INTEGER = "integer"
DATE = "%Y-%m-%d"
COMPACT_DATE = "%Y%m%d"  # ISO 8601 basic format; preferred to integers when all parse
DATETIMES = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
OFFSET = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})$"


def text(col: str, markers: Sequence[str]) -> pl.Expr:
    """The column as trimmed text, with empty cells and missing-value markers as null."""
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(s.is_in(list(markers)) | (s == "")).then(None).otherwise(s).alias(col)


def as_number(col: str, dtype: pl.DataType, markers: Sequence[str]) -> pl.Expr:
    """The column as Float64; text that is not a number becomes null."""
    if dtype == pl.String:
        return text(col, markers).cast(pl.Float64, strict=False)
    if dtype.is_numeric() or dtype == pl.Boolean:
        return pl.col(col).cast(pl.Float64)
    return pl.lit(None, pl.Float64)


def not_number(col: str, dtype: pl.DataType, markers: Sequence[str]) -> pl.Expr:
    """True where a value is present but is not a number."""
    present = text(col, markers).is_not_null() if dtype == pl.String else pl.col(col).is_not_null()
    return present & as_number(col, dtype, markers).is_null()


def numeric_like(frame: pl.DataFrame, markers: Sequence[str]) -> set[str]:
    """Columns that are numbers, or text of which most present values are numbers (the rest
    are then reported as `not_numeric` rather than the column being ignored)."""
    out = set()
    for col, dtype in frame.schema.items():
        if dtype.is_numeric() or dtype == pl.Boolean:
            out.add(col)
        elif dtype == pl.String:
            present, ok = frame.select(text(col, markers).count().alias("present"),
                                       as_number(col, dtype, markers).count().alias("ok")).row(0)
            if present and 2 * ok > present:
                out.add(col)
    return out


@dataclass(frozen=True)
class TimePlan:
    """How the time column is written: its dominant format and UTC offset."""

    dtype: str  # "native" (date, datetime, integer), "float" (integral floats), "text", "other"
    fmt: str | None = None  # INTEGER, DATE or one of DATETIMES, for text
    offset: str | None = None  # the dominant offset, e.g. "+00:00", for text datetimes

    def describe(self) -> str:
        """For the report."""
        if self.dtype == "other":
            return "not a date, datetime or integer step"
        if self.dtype != "text":
            return self.dtype
        if self.fmt is None:
            return "no value is an ISO 8601 date/time or an integer step"
        return f"{self.fmt}{' ' + self.offset if self.offset else ''}"


def _offset(col: str, markers: Sequence[str]) -> pl.Expr:
    raw = text(col, markers).str.extract(OFFSET, 1)
    sign = raw.str.replace("Z", "+00:00")
    return sign.str.replace(r"^([+-]\d{2})(\d{2})$", "$1:$2")


def _naive(col: str, markers: Sequence[str]) -> pl.Expr:
    return text(col, markers).str.replace(r"\s*(Z|[+-]\d{2}:?\d{2})$", "")


def _parsed(col: str, fmt: str, markers: Sequence[str]) -> pl.Expr:
    s = text(col, markers)
    if fmt == INTEGER:
        return pl.when(s.str.contains(r"^[+-]?\d+$")).then(s.cast(pl.Int64, strict=False))
    if fmt in (DATE, COMPACT_DATE):
        digits = s.str.contains(r"^\d{8}$") if fmt == COMPACT_DATE else pl.lit(True)
        return pl.when(digits).then(s.str.to_date(fmt, strict=False))
    return _naive(col, markers).str.to_datetime(fmt, strict=False, time_unit="us")


def time_plan(frame: pl.DataFrame, col: str, markers: Sequence[str]) -> TimePlan:
    """The format that parses most of the column's values, and their most common offset."""
    dtype = frame.schema[col]
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime) or dtype.is_integer():
        return TimePlan("native")
    if dtype.is_float():
        return TimePlan("float")
    if dtype != pl.String:
        return TimePlan("other")  # a duration, a time of day...: not a time axis
    formats = (COMPACT_DATE, INTEGER, DATE, *DATETIMES)  # on a tie the earlier wins
    counts = frame.select(_parsed(col, f, markers).count().alias(f)
                          for f in formats).row(0, named=True)
    fmt = max(counts, key=lambda f: counts[f])
    if counts[fmt] == 0:
        return TimePlan("text", fmt=None)
    offset = None
    if fmt in DATETIMES:
        mode = frame.select(_offset(col, markers).filter(_parsed(col, fmt, markers).is_not_null())
                            .value_counts(sort=True)).to_series()
        offset = mode[0][col] if len(mode) else None
    return TimePlan("text", fmt, offset)


def time_like(frame: pl.DataFrame, col: str, markers: Sequence[str]) -> str | None:
    """How a column could serve as a time axis: 'date' (most values are ISO dates or
    datetimes), 'increasing' (whole numbers, strictly increasing), 'integer' (whole
    numbers), or None."""
    dtype = frame.schema[col]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "date"
    if dtype.is_integer():
        values = pl.col(col)
    elif dtype == pl.String:
        plan = time_plan(frame, col, markers)
        present = frame.select(text(col, markers).count()).item()
        if plan.fmt is None or 2 * frame.select(_parsed(col, plan.fmt, markers).count()).item() \
                <= present:
            return None
        if plan.fmt != INTEGER:
            return "date"
        values = _parsed(col, INTEGER, markers)
    else:
        return None
    x = frame.select(values.drop_nulls()).to_series()
    return "increasing" if len(x) > 1 and bool((x.diff().drop_nulls() > 0).all()) else "integer"


def time_checks(col: str, plan: TimePlan, markers: Sequence[str]) -> list[pa.Check]:
    """`time_format`: present but not in the plan's format; `time_zone`: another offset."""
    if plan.dtype == "native":
        return []
    if plan.dtype == "other":
        return [rule("time_format", pl.col(col).is_null())]
    if plan.dtype == "float":
        whole = pl.col(col).is_nan() | (pl.col(col) == pl.col(col).round())
        return [rule("time_format", pl.col(col).is_null() | whole)]
    present = text(col, markers).is_not_null()
    if plan.fmt is None:
        return [rule("time_format", ~present)]
    parsed = _parsed(col, plan.fmt, markers).is_not_null()
    checks = [rule("time_format", ~present | parsed)]
    if plan.fmt in DATETIMES:
        same = _offset(col, markers).eq_missing(pl.lit(plan.offset, pl.String))
        checks.append(rule("time_zone", ~present | ~parsed | same))
    return checks


def parse_time(col: str, plan: TimePlan, markers: Sequence[str]) -> pl.Expr:
    """The time column typed per the plan (values in another format become null)."""
    if plan.dtype == "native":
        return pl.col(col)
    if plan.dtype == "float":
        return pl.col(col).cast(pl.Int64, strict=False)
    if plan.fmt is None or plan.dtype == "other":
        return pl.lit(None, pl.Datetime("us")).alias(col)
    parsed = _parsed(col, plan.fmt, markers)
    if plan.offset:  # to UTC; works for any offset, +05:30 and +05:45 included
        sign = -1 if plan.offset.startswith("-") else 1
        minutes = sign * (int(plan.offset[1:3]) * 60 + int(plan.offset[4:6]))
        parsed = (parsed - pl.duration(minutes=minutes)).dt.replace_time_zone("UTC")
    return parsed.alias(col)


def parse_schema(frame: pl.DataFrame, numeric: list[str], time: str, plan: TimePlan,
                 markers: Sequence[str]) -> pa.DataFrameSchema:
    """Checks on the columns as read, before any type is assumed."""
    columns = {c: pa.Column(nullable=True, checks=[
        rule("not_numeric", ~not_number(c, frame.schema[c], markers))]) for c in numeric}
    columns[time] = pa.Column(nullable=True, checks=time_checks(time, plan, markers))
    return pa.DataFrameSchema(columns, strict=False)


def typed(frame: pl.DataFrame, numeric: list[str], time: str, plan: TimePlan,
          markers: Sequence[str], keys: Sequence[str] = ()) -> pl.DataFrame:
    """Numbers as Float64 and the time column typed; what did not parse becomes null.
    Text `keys` (id, label, split) are trimmed, with missing-value markers as null."""
    trimmed = [text(c, markers) for c in keys if frame.schema[c] == pl.String]
    return frame.with_columns(*(as_number(c, frame.schema[c], markers).alias(c) for c in numeric),
                              parse_time(time, plan, markers), *trimmed)
