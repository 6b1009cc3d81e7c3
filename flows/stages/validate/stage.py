"""Stage `validate`: read the user's file, resolve column roles, run the contract's checks
stage by stage under the configured policy, account for every row, and report."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from flows.stages.validate.checker import Checker
from flows.stages.validate.parse import numeric_like, time_like
from flows.stages.validate.read import Table, read_table
from flows.stages.validate.report import accounting, check_entries, describe, message, write_outputs
from flows.stages.validate.steps import check_classify, check_forecast, parse_and_check_values
from schemas.artifacts import Validated
from schemas.config import Config, DataConfig, ForecastConfig, ValidationConfig
from schemas.data import MissingRoleError, Roles, resolve_roles
from schemas.errors import DataValidationError, UsageError
from schemas.files import atomic_write
from schemas.layout import Layout
from schemas.rules import FILLED, GROUP, ROW

log = logging.getLogger("seqarena")


def _fail_early(data: DataConfig, layout: Layout, error: str, rows_in: int, status: str) -> None:
    report = {"file": data.path, "status": status, "error": error, "rows_in": rows_in}
    write_outputs(layout, report, None)


def _read(data: DataConfig, layout: Layout) -> Table:
    try:
        return read_table(Path(data.path), data.delimiter)
    except UsageError as exc:
        _fail_early(data, layout, str(exc), 0, "unreadable")
        raise


def _roles(data: DataConfig, checks: ValidationConfig, layout: Layout, table: Table) -> Roles:
    markers = checks.missing_values
    numeric = numeric_like(table.frame, markers)
    try:
        roles = resolve_roles(table.frame.columns, numeric, data.columns, data.task,
                              lambda col: time_like(table.frame, col, markers))
    except MissingRoleError as exc:
        msg = f"{data.path}: {exc}. Columns found: {', '.join(table.frame.columns)}."
        _fail_early(data, layout, msg, table.frame.height, "failed")
        raise DataValidationError(msg) from None
    named = [c for c in (roles.id, roles.time, roles.target, roles.label, roles.split) if c]
    twice = sorted({c for c in [*named, *roles.features] if [*named, *roles.features].count(c) > 1})
    if twice:
        raise UsageError(f"{data.path}: column(s) {twice} are given more than one role "
                         "(id, time, target, label, split, features); give each role its own "
                         "column.")
    if roles.inferred:
        chosen = ", ".join(f"{r}={getattr(roles, r)}" for r in roles.inferred)
        flags = "/".join(f"--{r}" for r in roles.inferred)
        log.info("inferred: %s (rename the columns or pass %s to choose)", chosen, flags)
    reserved = [c for c in table.frame.columns if c in (ROW, GROUP, FILLED)]
    if reserved:
        raise UsageError(f"{data.path}: column(s) {reserved} are names seqarena uses "
                         "internally (a validated.parquet?); rename or drop them.")
    unknown = sorted(set(checks.bounds) - {roles.target, *roles.features})
    if unknown:
        raise UsageError(f"validation.bounds: {unknown} are not target or feature columns of "
                         f"{data.path}; bound only those.")
    return roles


def validate(data: DataConfig, checks: ValidationConfig, fc: ForecastConfig, layout: Layout
             ) -> Validated:
    """Check the data file against the contract (`fc`: the season, lookback and horizon the
    series must allow); write the report, the quarantine files and
    the validated rows into `layout`; raise DataValidationError when a defect's policy is
    `error`."""
    for stale in (layout.validation, layout.validation_md, layout.validated,
                  layout.quarantine_csv, layout.quarantine_parquet):
        stale.unlink(missing_ok=True)  # a failure must not leave an earlier run's verdict
    table = _read(data, layout)
    roles = _roles(data, checks, layout, table)
    raw = table.frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    checker = Checker(table, raw, roles, checks.policy)
    facts = parse_and_check_values(checker, checks)
    if roles.task == "forecast":
        facts |= check_forecast(checker, checks, fc, data.path)
    else:
        check_classify(checker, checks)
    final = checker.result()
    totals, groups = accounting(checker, final)
    failed = bool(checker.errors) or final.is_empty()
    report = {"file": data.path, "format": table.kind, "delimiter": table.delimiter,
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
        raise DataValidationError(message(Path(data.path), errors, md, roles.task, headline))
    for f in checker.findings:
        done = f.note or f"{f.set_aside} row(s) quarantined"
        log.info("! %s (%s): %s; see %s", describe(f, roles.task), f.check, done, md)
    frame = final.drop(GROUP)
    atomic_write(layout.validated, frame.write_parquet)
    return Validated(frame=frame, roles=checker.roles)



def run(cfg: Config, layout: Layout) -> Validated:
    """`validate` with its sections of `cfg`."""
    return validate(cfg.data, cfg.validation, cfg.forecast, layout)
