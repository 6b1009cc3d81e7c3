"""Stage `validate`: read the user's file, resolve column roles, check the contract, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pandera.errors import SchemaErrors

from flows.errors import DataValidationError
from flows.io import atomic_write, file_kind, read_json, read_table, write_json, write_text
from flows.layout import Layout
from schemas.config import Config
from schemas.data import MissingRoleError, Roles, input_schema, resolve_roles

SHOW_ROWS = 5
# check name (as pandera reports it) -> (what is wrong, what to do)
ADVICE: dict[str, tuple[str, str]] = {
    "not_nullable": ("missing values (empty, null or NaN)", "fill them in or remove those rows"),
    "finite": ("infinite values", "replace them with real numbers or remove those rows"),
    "dtype": ("a non-numeric type", "make every value a number (no text, units or '1,000')"),
    "isin": ("values other than train, val, test", "use only train, val or test"),
    "constant_label": ("a label that changes within one sequence",
                       "give each sequence a single label"),
    "multiple_fields_uniqueness": ("duplicate (id, time) rows", "keep one row per id and time"),
}


@dataclass(frozen=True)
class Validated:
    """What `validate` hands to `preprocess` (also on disk: validated.parquet + roles)."""

    frame: pl.DataFrame
    roles: Roles


def load_validated(layout: Layout) -> Validated:
    """Read back what `validate` wrote."""
    roles = Roles.from_dict(read_json(layout.validation)["roles"])
    return Validated(frame=pl.read_parquet(layout.validated), roles=roles)


def _advice(check: str) -> tuple[str, str]:
    key = next((k for k in ADVICE if k in check), "")
    return ADVICE.get(key, (f"failed check '{check}'", "correct those values"))


def _where(rows: list[int], kind: str) -> str:
    shown = rows[:SHOW_ROWS]
    more = f" and {len(rows) - len(shown)} more" if len(rows) > len(shown) else ""
    if kind == "csv":  # header is line 1, first data row is line 2
        return f"lines {', '.join(str(r + 2) for r in shown)}{more}"
    return f"rows {', '.join(str(r) for r in shown)}{more} (0-based)"


def defects_from(cases: pl.DataFrame, kind: str, roles: Roles) -> list[dict[str, object]]:
    """Group pandera failure cases into one defect per (column, check)."""
    defects = []
    frame_level = {"constant_label": f"{roles.id}, {roles.label}",
                   "multiple_fields_uniqueness": ", ".join(c for c in (roles.id, roles.time) if c)}
    cases = cases.with_columns(pl.col("check").fill_null(""))
    cases = cases.with_columns(pl.col("column").fill_null(
        pl.col("check").replace_strict(frame_level, default="")))
    for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
        rows = sorted({int(i) for i in group["index"].drop_nulls()})
        what, fix = _advice(str(check))
        if str(check).startswith("dtype"):
            what = f"type {group['failure_case'][0]}, not a number"
        values = [str(v) for v in group["failure_case"].head(SHOW_ROWS)]
        defects.append({"column": column, "check": check, "problem": what, "fix": fix,
                        "count": len(rows) or 1, "rows": rows[:100],
                        "where": _where(rows, kind) if rows else "whole column",
                        "examples": values})
    return defects


def _report(path: Path, out_dir: Path, report: dict[str, object]) -> None:
    write_json(Layout(out_dir).validation, report)
    lines = [f"# Validation of `{path}`", "", f"- rows read: {report['rows_in']}",
             f"- rows used: {report['rows_used']}",
             f"- rows quarantined: {report['rows_quarantined']}",
             f"- task: {report.get('task')}", f"- result: **{report['status']}**"]
    if report.get("ignored_columns"):
        lines.append(f"- columns not used (not numeric or not a role): "
                     f"{', '.join(report['ignored_columns'])}")  # type: ignore[arg-type]
    lines.append("")
    for d in report["defects"]:  # type: ignore[union-attr]
        lines.append(f"- column `{d['column']}`: {d['count']} rows with {d['problem']} "
                     f"({d['where']}); fix: {d['fix']}")
    write_text(out_dir / "validation.md", "\n".join(lines) + "\n")


def message(path: Path, defects: list[dict[str, object]]) -> str:
    """The user-facing summary: file, column, rows, fix; one line per defect."""
    lines = [f"{path}: the data failed validation ({len(defects)} problem(s)):"]
    for d in defects:
        col = f"column '{d['column']}'" if d["column"] else "the file"
        lines.append(f"  - {col}: {d['count']} row(s) with {d['problem']} at {d['where']}; "
                     f"{d['fix']}.")
    return "\n".join(lines)


def validate(cfg: Config) -> Validated:
    """Check the data file against the contract; write the report and the validated rows."""
    path, out_dir = Path(cfg.data.path), Path(cfg.out_dir)
    kind = file_kind(path)
    frame = read_table(path)
    report: dict[str, object] = {"file": str(path), "rows_in": frame.height, "rows_used": 0,
                                 "rows_quarantined": 0, "defects": [], "status": "failed"}
    try:
        roles = resolve_roles(frame.schema, cfg.data.columns, cfg.data.task)
    except MissingRoleError as exc:
        defect = {"column": "", "check": "roles", "problem": str(exc), "fix": "see above",
                  "count": frame.height, "rows": [], "where": "all rows", "examples": []}
        report["defects"] = [defect]
        _report(path, out_dir, report)
        raise DataValidationError(
            f"{path}: {exc}. Columns found: {', '.join(frame.columns)}."
        ) from None
    report["task"], report["roles"] = roles.task, roles.to_dict()
    report["ignored_columns"] = [c for c in frame.columns if c not in roles.columns]
    try:
        frame = input_schema(roles, frame.schema).validate(frame, lazy=True)
    except SchemaErrors as exc:
        report["defects"] = defects_from(exc.failure_cases, kind, roles)
        _report(path, out_dir, report)
        raise DataValidationError(message(path, report["defects"])) from None  # type: ignore[arg-type]
    report.update(rows_used=frame.height, status="passed")
    atomic_write(Layout(out_dir).validated, frame.write_parquet)
    _report(path, out_dir, report)
    return Validated(frame=frame, roles=roles)
