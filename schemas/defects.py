"""The defects seqarena checks for, and the typed policy that says what to do about each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

ErrorOrQuarantine = Literal["error", "quarantine"]
ErrorQuarantineFix = Literal["error", "quarantine", "fix"]
ErrorOrFix = Literal["error", "fix"]


@dataclass(frozen=True)
class Defect:
    """What is wrong, what the user can do, and how much a quarantine takes away."""

    problem: str  # rows "with ...", or for group defects: series/sequences "..."
    advice: str
    scope: Literal["row", "group"] = "row"  # group: the whole series or sequence goes
    task: Literal["both", "forecast", "classify"] = "both"


DEFECTS: dict[str, Defect] = {
    "not_numeric": Defect("values that are not numbers",
                          "write plain numbers (no text, units or thousands separators)"),
    "time_format": Defect("times that are not ISO 8601 in the column's format",
                          "write every time in one ISO 8601 format (2024-01-31, 20240131 or "
                          "2024-01-31T13:00) or as integer steps"),
    "time_zone": Defect("times with a different UTC offset from the rest of the column",
                        "write all times in one offset (e.g. UTC) or all without one"),
    "missing": Defect("missing values (empty, NA, null or NaN)",
                      "fill them in or remove those rows"),
    "infinite": Defect("infinite values, or beyond ±1e150 (too large to compute with)",
                       "replace them with real numbers in a sensible unit, or remove those rows"),
    "out_of_bounds": Defect("values outside validation.bounds",
                            "correct them, or widen validation.bounds"),
    "bad_split": Defect("split values other than train, val, test",
                        "use only train, val or test in the split column"),
    "duplicate": Defect("the same (id, time) as another row",
                        "keep one row per id and time"),
    "unsorted": Defect("a time earlier than the row before it in its series",
                       "sort the rows by id, then time"),
    "empty_feature": Defect("no values at all (a feature column)",
                            "fill the column or leave it out of data.columns.features"),
    "irregular": Defect("times off the series' regular step", "put every time on the same step",
                        task="forecast"),
    "gaps": Defect("with missing time steps", "add the missing steps",
                   scope="group", task="forecast"),
    "short_series": Defect("too short for lookback + horizon in every split",
                           "give these series more history, or lower forecast.lookback",
                           scope="group", task="forecast"),
    "constant_series": Defect("whose target never changes (it cannot be scaled)",
                              "leave such series out; a constant needs no model",
                              scope="group", task="forecast"),
    "missing_label": Defect("with rows that have no label",
                            "give every row its sequence's label",
                            scope="group", task="classify"),
    "varying_label": Defect("whose label changes from row to row",
                            "give each sequence a single label", scope="group", task="classify"),
    "mixed_split": Defect("with rows in more than one split",
                          "give all rows of a sequence the same split value",
                          scope="group", task="classify"),
    "short_sequence": Defect("shorter than validation.min_sequence_length",
                             "give them more steps, or lower validation.min_sequence_length",
                             scope="group", task="classify"),
    "rare_class": Defect("of a class too rare to appear in train, val and test",
                         "add sequences of this class (3 or more), or leave the class out",
                         scope="group", task="classify"),
}


class Policy(BaseModel):
    """What to do about each defect: `error` stops (exit 1); `quarantine` sets the rows (or the
    whole series/sequence) aside in the quarantine file; `fix` repairs where that is safe."""

    model_config = ConfigDict(extra="forbid")

    not_numeric: ErrorOrQuarantine = "error"
    time_format: ErrorOrQuarantine = "error"
    time_zone: ErrorOrQuarantine = "error"
    missing: ErrorOrQuarantine = "error"
    infinite: ErrorOrQuarantine = "error"
    out_of_bounds: ErrorOrQuarantine = "error"
    bad_split: ErrorOrQuarantine = "error"
    duplicate: ErrorQuarantineFix = Field("error", description="fix: keep the last row")
    unsorted: ErrorOrFix = Field("fix", description="fix: sort by id, then time")
    empty_feature: ErrorOrFix = Field("error", description="fix: leave the column out")
    irregular: ErrorOrQuarantine = "error"
    gaps: ErrorQuarantineFix = Field("error", description="fix: insert steps, fill them")
    short_series: ErrorOrQuarantine = "quarantine"
    constant_series: ErrorOrQuarantine = "quarantine"
    missing_label: ErrorOrQuarantine = "error"
    varying_label: ErrorOrQuarantine = "error"
    mixed_split: ErrorOrQuarantine = "error"
    short_sequence: ErrorOrQuarantine = "quarantine"
    rare_class: ErrorOrQuarantine = "quarantine"


def allowed(defect: str) -> tuple[str, ...]:
    """The actions the policy accepts for a defect."""
    return get_args(Policy.model_fields[defect].annotation)


def alternatives(defect: str) -> str:
    """How to ask for something other than stopping, for error messages."""
    other = [a for a in allowed(defect) if a != "error"]
    if not other:
        return ""
    return f", or set validation.policy.{defect}: {' or '.join(other)}"
