"""Run the contract's checks stage by stage and apply the policy to what they find.

Rows set aside in a stage leave the working frame before the next stage (quarantined) or
stay in it but are not reported again (rejected: the run will stop anyway, and removing
them would invent gaps). Every row set aside is recorded with its check and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from flows.stages.validate.read import Table
from schemas.data import Roles
from schemas.defects import DEFECTS, Policy
from schemas.rules import FILLED, GROUP, ROW

SHOW = 5
ASIDE_SCHEMA = {ROW: pl.Int64, "action": pl.String, "check": pl.String, "column": pl.String}


@dataclass
class Finding:
    """One check's result on one column."""

    check: str
    column: str
    action: str  # "rejected", "quarantined" or "fixed"
    rows: int  # offending rows (or 0 for a whole-column defect)
    groups: int
    examples: list[dict[str, str]] = field(default_factory=list)
    where: str = ""
    note: str = ""
    set_aside: int = 0  # rows rejected or quarantined because of it (whole groups if so scoped)


def failure_cases(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """pandera's failure cases of `schema` on `frame`, all checks at once (lazy=True)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        broken = cases.filter(pl.col("index").is_null())
        if broken.height:  # a check that raised, not a data defect: a bug to surface
            raise RuntimeError(f"validation check failed to run: {broken.rows()[:3]}") from exc
        return cases.select("check", "column", pl.col("index").cast(pl.Int64), "failure_case")
    return pl.DataFrame(schema={"check": pl.String, "column": pl.String, "index": pl.Int64,
                                "failure_case": pl.String})


class Checker:
    """One validation run: the working frame, the findings, and every row set aside."""

    def __init__(self, table: Table, frame: pl.DataFrame, roles: Roles, policy: Policy) -> None:
        self.table, self.roles, self.policy = table, roles, policy
        key = pl.col(roles.id).cast(pl.String).str.strip_chars() if roles.id else None
        group = pl.when(key.str.len_chars() > 0).then(key).otherwise(pl.lit("(missing id)")) \
            if key is not None else pl.lit("series")
        self.raw = frame  # as read, with ROW: what the quarantine file shows
        self.frame = frame.with_columns(group.alias(GROUP), pl.lit(False).alias(FILLED))
        self.origin = self.frame.select(ROW, GROUP)  # the accounting's denominator
        self.findings: list[Finding] = []
        self._aside: list[pl.DataFrame] = [pl.DataFrame(schema=ASIDE_SCHEMA)]

    @property
    def aside(self) -> pl.DataFrame:
        """Every row set aside: ROW, action, check, column (a row may appear more than once)."""
        return pl.concat(self._aside)

    def rows_with(self, action: str) -> pl.Series:
        """Input rows set aside with this action."""
        a = self.aside
        return a.filter(pl.col("action") == action)[ROW].unique()

    def set_aside(self, rows: pl.Series, action: str, check: str, column: str) -> None:
        """Record rows as rejected or quarantined, with the check that caught them."""
        rows = rows.drop_nulls().cast(pl.Int64)
        self._aside.append(pl.DataFrame({ROW: rows}).with_columns(
            action=pl.lit(action), check=pl.lit(check), column=pl.lit(column)))

    def _where(self, rows: list[int]) -> str:
        return self.table.where_text(rows, SHOW)

    def stage(self, schema: pa.DataFrameSchema, whole_groups: bool = False
              ) -> dict[str, pl.DataFrame]:
        """Run one schema; reject or quarantine what it finds. Returns the rows flagged by
        defects whose policy is `fix`, by check name, for the caller to repair.

        `whole_groups`: the checks judge a series or sequence as a whole, so those with rows
        already rejected are skipped (a rejected time would otherwise show up again as a gap).
        """
        before = self.aside[ROW].unique()
        frame = self.untainted() if whole_groups else self.frame
        cases = failure_cases(frame, schema)
        if cases.is_empty():
            return {}
        frame = frame.with_row_index("__pos")
        to_fix: dict[str, pl.DataFrame] = {}
        for (check, column), group in cases.group_by("check", "column", maintain_order=True):
            hit = frame.join(group.select(pl.col("index").alias("__pos"), "failure_case"),
                             on="__pos").sort("__pos")
            hit = hit.filter(pl.col(ROW).is_null() | ~pl.col(ROW).is_in(before.implode()))
            if hit.is_empty():
                continue
            finding = self._finding(str(check), str(column), hit)
            if self.policy_of(finding.check) == "fix":
                to_fix[finding.check] = hit
            else:
                whole = DEFECTS[finding.check].scope == "group" or self.roles.task == "classify"
                target = frame.filter(pl.col(GROUP).is_in(hit[GROUP].unique().implode())) \
                    if whole else hit
                self.set_aside(target[ROW], finding.action, finding.check, finding.column)
                finding.set_aside = int(target[ROW].is_not_null().sum())
                if whole and finding.action == "quarantined":
                    groups = hit[GROUP].unique().implode()
                    self.frame = self.frame.filter(~pl.col(GROUP).is_in(groups))
            self.findings.append(finding)
        quarantined = self.rows_with("quarantined").implode()
        self.frame = self.frame.filter(pl.col(ROW).is_null() | ~pl.col(ROW).is_in(quarantined))
        return to_fix

    def untainted(self) -> pl.DataFrame:
        """The working frame without the series or sequences that have rejected rows."""
        rejected = self.rows_with("rejected").implode()
        tainted = self.frame.filter(pl.col(ROW).is_in(rejected))[GROUP].unique().implode()
        return self.frame.filter(~pl.col(GROUP).is_in(tainted))

    def policy_of(self, check: str) -> str:
        """The configured action for a check."""
        return getattr(self.policy, check)

    def _finding(self, check: str, column: str, hit: pl.DataFrame) -> Finding:
        action = {"error": "rejected", "quarantine": "quarantined", "fix": "fixed"}[
            self.policy_of(check)]
        rows = hit[ROW].drop_nulls().to_list()
        examples = [{"where": self._where([r]) if r is not None else "an inserted step",
                     "group": g, "value": "" if v is None else str(v)}
                    for r, g, v in hit.select(ROW, GROUP, "failure_case").head(SHOW).iter_rows()]
        return Finding(check, column, action, rows=hit.height, groups=hit[GROUP].n_unique(),
                       examples=examples, where=self._where(rows))

    def column_defect(self, check: str, column: str, note: str) -> None:
        """A defect of a whole column (no rows to set aside)."""
        fixing = self.policy_of(check) == "fix"
        self.findings.append(Finding(check, column, "fixed" if fixing else "rejected", 0, 0,
                                     note=note if fixing else ""))

    def drop_features(self, columns: list[str]) -> None:
        """Leave features out of the run (the `empty_feature: fix` repair)."""
        self.roles = replace(self.roles, features=tuple(
            c for c in self.roles.features if c not in columns))

    @property
    def errors(self) -> list[Finding]:
        """What stops the run: findings whose policy is `error`."""
        return [f for f in self.findings if f.action == "rejected"]

    def result(self) -> pl.DataFrame:
        """The rows that pass, and steps inserted by fixes."""
        rejected = self.rows_with("rejected").implode()
        return self.frame.filter(pl.col(ROW).is_null() | ~pl.col(ROW).is_in(rejected))

    def note(self, check: str, text: str, action: str | None = None) -> None:
        """Say what a fix did, on the check's latest finding (with that action, if given)."""
        for finding in reversed(self.findings):
            if finding.check == check and action in (None, finding.action):
                finding.note = text
                return
