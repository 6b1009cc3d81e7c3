"""Stage `validate`: read the user's file, resolve column roles, run the contract's checks
stage by stage under the configured policy, account for every row, and report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.checker import Checker, Finding
from flows.io import atomic_write, read_json
from flows.layout import Layout
from flows.readers import Table, read_table
from flows.repair import earlier_duplicates, fill_gaps
from flows.validation_report import accounting, check_entries, write_outputs
from schemas.checks import (
    FILLED,
    GROUP,
    ROW,
    classes_schema,
    gaps_schema,
    grid_schema,
    infer_step,
    missing_steps,
    order_schema,
    sequences_schema,
    series_schema,
    values_schema,
)
from schemas.config import Config, ValidationConfig
from schemas.data import MissingRoleError, Roles, resolve_roles
from schemas.defects import DEFECTS, alternatives
from schemas.errors import DataValidationError, UsageError
from schemas.parse import numeric_like, parse_schema, text, time_like, time_plan, typed

log = logging.getLogger("seqarena")


@dataclass(frozen=True)
class Validated:
    """What `validate` hands to `preprocess` (also on disk: validated.parquet + roles)."""

    frame: pl.DataFrame
    roles: Roles


def load_validated(layout: Layout) -> Validated:
    """Read back what `validate` wrote."""
    roles = Roles.from_dict(read_json(layout.validation)["roles"])
    return Validated(frame=pl.read_parquet(layout.validated), roles=roles)


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


def check_forecast(checker: Checker, cfg: Config) -> dict[str, str]:
    """Forecasting: a regular step, no gaps (or filled), long and varying series."""
    r, v = checker.roles, cfg.validation
    dtype = checker.frame.schema[r.time]
    step = infer_step(checker.frame.filter(pl.col(ROW).is_not_null()), r.time)
    checker.stage(grid_schema(r, dtype, step), whole_groups=True)
    steps = checker.untainted().with_columns(missing_steps(r, dtype, step).alias("__missing"))
    gaps = int(steps["__missing"].sum())
    to_fix = checker.stage(gaps_schema(r, dtype, step), whole_groups=True)
    checker.note("gaps", f"{gaps} steps missing")
    if to_fix:  # the `fix` policy set nothing aside, so `steps` still matches the frame
        gaps = _refuse_long_fills(checker, steps)
        checker.frame = fill_gaps(checker.frame, r, step, v.fill)
        checker.note("gaps", f"inserted {gaps} steps, filled by {v.fill}", action="fixed")
    checker.stage(series_schema(r, cfg.forecast), whole_groups=True)
    return {"step": step.describe()}


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


def check_classify(checker: Checker, cfg: Config) -> dict[str, str]:
    """Classification: one label and split per sequence, long enough, classes in every split."""
    checker.stage(sequences_schema(checker.roles, cfg.validation), whole_groups=True)
    checker.stage(classes_schema(checker.roles), whole_groups=True)
    return {}


def unit(task: str, n: int) -> str:
    """'series' or 'sequence(s)', counted."""
    return f"{n} series" if task == "forecast" else f"{n} sequence{'s' if n != 1 else ''}"


def describe(f: Finding, task: str) -> str:
    """'column 'y': 2 row(s) with missing values ..., at lines 6, 11'."""
    d = DEFECTS[f.check]
    col = f"column '{f.column}'" if f.column else "the file"
    if not f.rows:
        what = d.problem
    elif d.scope == "group":
        what = f"{unit(task, f.groups)} {d.problem}"
    else:
        what = f"{f.rows} row(s) with {d.problem}"
    return f"{col}: {what}" + (f", at {f.where}" if f.where else "")


def message(path: Path, findings: list[Finding], report: Path | None, task: str,
            headline: str = "the data failed validation") -> str:
    """The user-facing summary of what stopped the run: file, column, rows, fix; one line each."""
    lines = [f"{path}: {headline} ({len(findings)} problem(s)):"]
    for f in findings:
        d = DEFECTS[f.check]
        note = f" ({f.note})" if f.note else ""
        other = alternatives(f.check) if f.action == "rejected" else ""
        lines.append(f"  - {describe(f, task)}{note}; {d.advice}{other}.")
    if report is not None:
        lines.append(f"Full report: {report}")
    return "\n".join(lines)


def _fail_early(cfg: Config, error: str, rows_in: int, status: str) -> None:
    layout = Layout(Path(cfg.out_dir))
    report = {"file": cfg.data.path, "status": status, "error": error, "rows_in": rows_in}
    write_outputs(layout, report, None)


def _read(cfg: Config) -> Table:
    try:
        return read_table(Path(cfg.data.path), cfg.data.delimiter)
    except UsageError as exc:
        _fail_early(cfg, str(exc), 0, "unreadable")
        raise


def _roles(cfg: Config, table: Table) -> Roles:
    markers = cfg.validation.missing_values
    numeric = numeric_like(table.frame, markers)
    try:
        roles = resolve_roles(table.frame.columns, numeric, cfg.data.columns, cfg.data.task,
                              lambda col: time_like(table.frame, col, markers))
    except MissingRoleError as exc:
        msg = f"{cfg.data.path}: {exc}. Columns found: {', '.join(table.frame.columns)}."
        _fail_early(cfg, msg, table.frame.height, "failed")
        raise DataValidationError(msg) from None
    named = [c for c in (roles.id, roles.time, roles.target, roles.label, roles.split) if c]
    twice = sorted({c for c in [*named, *roles.features] if [*named, *roles.features].count(c) > 1})
    if twice:
        raise UsageError(f"{cfg.data.path}: column(s) {twice} are given more than one role "
                         "(id, time, target, label, split, features); give each role its own "
                         "column.")
    if roles.inferred:
        chosen = ", ".join(f"{r}={getattr(roles, r)}" for r in roles.inferred)
        flags = "/".join(f"--{r}" for r in roles.inferred)
        log.info("inferred: %s (rename the columns or pass %s to choose)", chosen, flags)
    reserved = [c for c in table.frame.columns if c in (ROW, GROUP, FILLED)]
    if reserved:
        raise UsageError(f"{cfg.data.path}: column(s) {reserved} are names seqarena uses "
                         "internally (a validated.parquet?); rename or drop them.")
    unknown = sorted(set(cfg.validation.bounds) - {roles.target, *roles.features})
    if unknown:
        raise UsageError(f"validation.bounds: {unknown} are not target or feature columns of "
                         f"{cfg.data.path}; bound only those.")
    return roles


def validate(cfg: Config) -> Validated:
    """Check the data file against the contract; write the report, the quarantine files and
    the validated rows; raise DataValidationError when a defect's policy is `error`."""
    layout = Layout(Path(cfg.out_dir))
    for stale in (layout.validation, layout.validation_md, layout.validated,
                  layout.quarantine_csv, layout.quarantine_parquet):
        stale.unlink(missing_ok=True)  # a failure must not leave an earlier run's verdict
    table = _read(cfg)
    roles = _roles(cfg, table)
    raw = table.frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    checker = Checker(table, raw, roles, cfg.validation.policy)
    facts = parse_and_check_values(checker, cfg.validation)
    check = check_forecast if roles.task == "forecast" else check_classify
    facts |= check(checker, cfg)
    final = checker.result()
    totals, groups = accounting(checker, final)
    failed = bool(checker.errors) or final.is_empty()
    report = {"file": cfg.data.path, "format": table.kind, "delimiter": table.delimiter,
              "status": "failed" if failed else "passed", "task": roles.task,
              "roles": checker.roles.to_dict(), **facts, **totals,
              "blank_lines_skipped": list(table.blank_lines),
              "unit": "series" if roles.task == "forecast" else "sequence",
              "groups": groups.to_dicts(), "checks": check_entries(checker, roles.task),
              "ignored_columns": [c for c in table.frame.columns if c not in roles.columns],
              "quarantine": {"rows": totals["rows_quarantined"] + totals["rows_rejected"],
                             "csv": str(layout.quarantine_csv),
                             "parquet": str(layout.quarantine_parquet)}}
    write_outputs(layout, report, checker)
    md = layout.validation_md
    if failed:
        errors, headline = checker.errors, "the data failed validation"
        if not errors:
            errors = [f for f in checker.findings if f.set_aside]
            headline = f"no rows are left: all {totals['rows_quarantined']} were quarantined"
        raise DataValidationError(message(Path(cfg.data.path), errors, md, roles.task, headline))
    for f in checker.findings:
        done = f.note or f"{f.set_aside} row(s) quarantined"
        log.info("! %s (%s): %s; see %s", describe(f, roles.task), f.check, done, md)
    frame = final.drop(GROUP)
    atomic_write(layout.validated, frame.write_parquet)
    return Validated(frame=frame, roles=checker.roles)

