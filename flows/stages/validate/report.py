"""The validation report (JSON for machines, Markdown for people), the row accounting it
rests on, and the quarantine files (Parquet, and a CSV no spreadsheet runs as formulas)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import polars as pl

from flows.report.text import LONG, formula_safe, md_code, md_text
from flows.stages.validate.checker import Checker, Finding
from schemas.artifacts import write_validation
from schemas.defects import DEFECTS, alternatives
from schemas.files import atomic_write, write_text
from schemas.layout import Layout
from schemas.rules import FILLED, GROUP, ROW

PREFIX = "seqarena_"
TOP_GROUPS = 20


def accounting(checker: Checker, final: pl.DataFrame) -> tuple[dict[str, int], pl.DataFrame]:
    """Each input row is used, quarantined or rejected, exactly one of them: totals and the
    same per series or sequence. Raises if any row is in none or in two (a bug)."""
    aside = checker.aside.group_by(ROW).agg(
        (pl.col("action") == "rejected").any().alias("rejected"))
    used = final.select(pl.col(ROW).drop_nulls())
    if used[ROW].n_unique() != used.height:
        raise RuntimeError("validation accounting: an input row is used twice")
    rows = checker.origin.join(aside, on=ROW, how="left").join(
        used.with_columns(pl.lit(True).alias("used")), on=ROW, how="left").select(
        GROUP, pl.col("used").fill_null(False).cast(pl.Int64).alias("rows_used"),
        (pl.col("rejected") == False).fill_null(False).cast(pl.Int64).alias("rows_quarantined"),  # noqa: E712
        pl.col("rejected").fill_null(False).cast(pl.Int64).alias("rows_rejected"))
    counted = rows.select(pl.sum_horizontal("rows_used", "rows_quarantined", "rows_rejected"))
    if (counted.to_series() != 1).any():
        raise RuntimeError("validation accounting: a row is neither used nor set aside, or both")
    added = final.filter(FILLED).group_by(GROUP).agg(pl.len().cast(pl.Int64).alias("rows_added"))
    groups = rows.group_by(GROUP).agg(pl.len().cast(pl.Int64).alias("rows_in"), pl.all().sum()) \
        .join(added, on=GROUP, how="full", coalesce=True).fill_null(0).sort(GROUP)
    totals = {k: int(groups[k].sum()) for k in
              ("rows_in", "rows_used", "rows_quarantined", "rows_rejected", "rows_added")}
    if totals["rows_in"] != checker.origin.height:
        raise RuntimeError("validation accounting: rows were lost")
    return totals, groups.rename({GROUP: "id"})


def check_entries(checker: Checker, task: str) -> list[dict[str, Any]]:
    """Every check that applies to the task, with what it found (0 rows: passed)."""
    found: dict[str, list[Finding]] = {}
    for f in checker.findings:
        found.setdefault(f.check, []).append(f)
    entries = []
    for check, defect in DEFECTS.items():
        if defect.task not in ("both", task):
            continue
        policy = checker.policy_of(check)
        for f in found.get(check) or [Finding(check, "", "passed", 0, 0)]:
            entries.append({"check": check, "column": f.column, "policy": policy,
                            "action": f.action, "rows": f.rows, "groups": f.groups,
                            "set_aside": f.set_aside,
                            "problem": defect.problem, "fix": defect.advice, "where": f.where,
                            "examples": f.examples, "note": f.note})
    return entries


def render(report: dict[str, Any]) -> str:
    """The Markdown report."""
    lines = [f"# Validation of {md_code(report['file'], LONG)}", "",
             f"**{report['status']}**: task {report.get('task')}, {report['rows_in']} rows read."]
    if report.get("error"):
        lines += ["", "Error:", "", *(f"- {md_text(line, LONG)}"
                                      for line in str(report["error"]).splitlines())]
        return "\n".join(lines) + "\n"
    lines += ["", "| rows read | used | quarantined | rejected | inserted by fixes |",
              "|---:|---:|---:|---:|---:|",
              f"| {report['rows_in']} | {report['rows_used']} | {report['rows_quarantined']} | "
              f"{report['rows_rejected']} | {report['rows_added']} |", "",
              "Every row read is used, quarantined or rejected; rejected rows stop the run "
              "(policy `error`), quarantined rows are in the quarantine file with the reason."]
    if report.get("delimiter"):
        lines.append(f"Delimiter: {md_code(report['delimiter'])}.")
    if report.get("blank_lines_skipped"):
        lines.append(f"Blank lines skipped: {report['blank_lines_skipped'][:10]}.")
    if report.get("step"):
        lines.append(f"Time step: {report['step']}.")
    if report.get("ignored_columns"):
        lines.append(f"Columns not used (not numeric or no role): "
                     f"{', '.join(md_text(c) for c in report['ignored_columns'])}.")
    lines += ["", "## Checks", "", "| check | column | policy | result | rows | "
              f"{report['unit']} | first cases |", "|---|---|---|---|---:|---:|---|"]
    for c in report["checks"]:
        cases = "; ".join(f"{md_text(e['where'])}: {md_text(e['value'])}"
                          for e in c["examples"][:3])
        result = c["action"] + (f" {c['set_aside']} rows" if c["set_aside"] else "") + (
            f" ({md_text(c['note'], LONG)})" if c["note"] else "")
        lines.append(f"| {c['check']} | {md_text(c['column'])} | {c['policy']} | {result} | "
                     f"{c['rows']} | {c['groups']} | {cases} |")
    lines += ["", f"A {report['unit']} with rejected rows skips the checks that judge a whole "
              f"{report['unit']} (fix its rows first)."]
    groups = [g for g in report["groups"] if g["rows_in"] != g["rows_used"] or g["rows_added"]]
    shown = f" (first {TOP_GROUPS} shown)" if len(groups) > TOP_GROUPS else ""
    lines += ["", f"## Per {report['unit']}", "",
              f"{len(report['groups'])} {report['unit']}; {len(groups)} with rows set aside or "
              f"inserted{shown}."]
    if groups:
        lines += ["", f"| {report['unit']} | read | used | quarantined | rejected | inserted |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {md_text(g['id'])} | {g['rows_in']} | {g['rows_used']} | "
                  f"{g['rows_quarantined']} | {g['rows_rejected']} | {g['rows_added']} |"
                  for g in groups[:TOP_GROUPS]]
    if report["rows_quarantined"] or report["rows_rejected"]:
        lines += ["", f"Rows set aside: {md_code(report['quarantine']['csv'], LONG)} and "
                  f"{md_code(report['quarantine']['parquet'], LONG)}."]
    return "\n".join(lines) + "\n"


def write_safe_csv(frame: pl.DataFrame, path: Path) -> None:
    """The frame as CSV with formula-like text neutralised, in the header row too."""
    names = formula_safe(pl.DataFrame({"name": frame.columns}, schema={"name": pl.String}))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(names["name"].to_list())
    with path.open("wb") as out:
        out.write(header.getvalue().encode("utf-8"))
        formula_safe(frame).write_csv(out, include_header=False)


def quarantine_frame(checker: Checker) -> pl.DataFrame:
    """The rows set aside, as read, with where they were, what was done, and why."""
    unit = "series" if checker.roles.task == "forecast" else "sequence"
    row = "row with" if unit == "series" else "sequence has a row with"
    why = {k: f"{unit} {d.problem}" if d.scope == "group" else f"{row} {d.problem}"
           for k, d in DEFECTS.items()}
    reasons = checker.aside.with_columns(
        (pl.col("check") + "(" + pl.col("column") + ")").alias("what"),
        pl.col("check").replace_strict(why, default="").alias("why"))
    per_row = reasons.group_by(ROW).agg(
        pl.when((pl.col("action") == "rejected").any()).then(pl.lit("rejected"))
        .otherwise(pl.lit("quarantined")).alias(PREFIX + "action"),
        pl.col("what").unique(maintain_order=True).str.join("; ").alias(PREFIX + "checks"),
        pl.col("why").unique(maintain_order=True).str.join("; ").alias(PREFIX + "reason"))
    rows = checker.raw.join(per_row, on=ROW).sort(ROW)
    where = pl.Series(PREFIX + "where", checker.table.where(rows[ROW].to_list()), pl.String)
    front = [PREFIX + "action", PREFIX + "checks", PREFIX + "reason"]
    return rows.with_columns(where).select(PREFIX + "where", *front,
                                           pl.exclude(ROW, PREFIX + "where", *front))


def write_outputs(layout: Layout, report: dict[str, Any], checker: Checker | None) -> None:
    """validation.json, validation.md and (when the checks ran) the quarantine files."""
    if checker is not None:
        rows = quarantine_frame(checker)
        atomic_write(layout.quarantine_parquet, rows.write_parquet)
        atomic_write(layout.quarantine_csv, lambda p: write_safe_csv(rows, p))
    write_validation(layout, report)
    write_text(layout.validation_md, render(report))


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
