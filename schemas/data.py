"""Input data contract (docs/contracts.md): which column plays which role."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from schemas.config import Columns, Task

ROLE_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "forecast": {
        "id": ("unique_id", "series_id", "item_id", "id"),
        "time": ("ds", "timestamp", "date", "datetime", "time", "step", "t"),
        "target": ("y", "target", "value"),
    },
    "classify": {
        "id": ("sequence_id", "seq_id", "unique_id", "id"),
        "time": ("step", "t", "timestamp", "ds", "time"),
        "label": ("label", "class", "target"),
    },
}
LABEL_HINTS = ("label", "class")  # a column so named means classification
# an integer column whose name has one of these words may be a time axis (YEAR, month_no)
TIME_WORDS = ("year", "yr", "quarter", "month", "week", "day", "date", "hour", "minute",
              "second", "time", "period", "epoch")
SPLITS = ("train", "val", "test")
HUGE = 1e150  # beyond this, squares overflow float64: scaling statistics become inf


@dataclass(frozen=True)
class Roles:
    """Which column plays which role, resolved once and carried through every stage."""

    task: Task
    time: str
    features: tuple[str, ...]
    id: str | None = None
    target: str | None = None
    label: str | None = None
    split: str | None = None
    inferred: tuple[str, ...] = ()  # roles guessed from the values, not from the names

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {**asdict(self), "features": list(self.features), "inferred": list(self.inferred)}

    @property
    def columns(self) -> list[str]:
        """Every column that plays a role."""
        named = (self.id, self.time, self.target, self.label, *self.features, self.split)
        return [c for c in named if c]

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Roles:
        """Inverse of to_dict."""
        return cls(**{**raw, "features": tuple(raw["features"]),  # type: ignore[arg-type]
                      "inferred": tuple(raw.get("inferred", ()))})  # type: ignore[arg-type]


class MissingRoleError(ValueError):
    """A required role has no column; the message says which names were looked for."""


def _find(columns: list[str], explicit: str | None, names: tuple[str, ...]) -> str | None:
    if explicit is not None:
        return explicit if explicit in columns else None
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def infer_task(columns: list[str], cols: Columns, task: Task | None) -> Task:
    """The configured task, else classify when a label column exists, else forecast."""
    if task is not None:
        return task
    lower = {c.lower() for c in columns}
    return "classify" if cols.label or lower & set(LABEL_HINTS) else "forecast"


def _time_named(column: str) -> bool:
    words = re.split(r"[^a-z]+", column.lower())
    return any(w.removesuffix("s") in TIME_WORDS for w in words)


def infer_forecast(columns: list[str], numeric: set[str], found: dict[str, str | None],
                   wanted: set[str], taken: set[str],
                   time_kind: Callable[[str], str | None]) -> dict[str, str]:
    """The `wanted` roles (time, target) of a forecasting file whose names are not
    recognised: exactly one time-like column (first dates, else whole numbers with a time
    word in the name, else strictly increasing whole numbers) and exactly one other numeric
    column. `taken`: columns with other roles."""
    guess: dict[str, str] = {}
    free = [c for c in columns if c not in taken and c != found["target"]]
    if "time" in wanted:
        kinds = {c: time_kind(c) for c in free}
        for tier in (lambda c: kinds[c] == "date",
                     lambda c: kinds[c] in ("integer", "increasing") and _time_named(c),
                     lambda c: kinds[c] == "increasing"):
            candidates = [c for c in free if tier(c)]
            if candidates:
                if len(candidates) == 1:
                    guess["time"] = candidates[0]
                break
    time = found["time"] or guess.get("time")
    others = [c for c in free if c in numeric and c != time]
    if "target" in wanted and time and len(others) == 1:
        guess["target"] = others[0]
    return guess


def resolve_roles(columns: list[str], numeric: set[str], cols: Columns, task: Task | None,
                  time_kind: Callable[[str], str | None] | None = None) -> Roles:
    """Map columns to roles; explicit names win, then the default names, case-insensitive.
    Features default to the other `numeric` columns. When the names of a two-column
    forecasting file (a split column aside) are not recognised and `time_kind` (see
    flows.stages.validate.parse.time_like) is given, its time and target are inferred from the
    values (`infer_forecast`); `Roles.inferred` says which."""
    task = infer_task(columns, cols, task)
    names = ROLE_NAMES[task]
    key = "target" if task == "forecast" else "label"
    found = {
        "id": _find(columns, cols.id, names["id"]),
        "time": _find(columns, cols.time, names["time"]),
        key: _find(columns, getattr(cols, key), names[key]),
    }
    split = _find(columns, cols.split, ("split",))
    guess: dict[str, str] = {}
    wanted = {r for r in ("time", "target") if task == "forecast" and found[r] is None
              and getattr(cols, r) is None}  # explicit names are never second-guessed
    if wanted and time_kind and len([c for c in columns if c != split]) == 2:
        taken = {c for c in (found["id"], split, *(cols.features or ())) if c}
        guess = infer_forecast(columns, numeric, found, wanted, taken, time_kind)
        found.update(guess)
    required = ["time", key] + (["id"] if task == "classify" else [])
    missing = [r for r in required if found[r] is None]
    if cols.id and found["id"] is None:
        missing.append("id")
    if missing:
        raise MissingRoleError("; ".join(_missing_text(r, cols, names, task) for r in missing))
    used = {c for c in (*found.values(), split) if c}
    if cols.features is not None:
        absent = [c for c in cols.features if c not in columns]
        if absent:
            raise MissingRoleError(f"feature columns {absent} not found")
        features = tuple(cols.features)
    else:
        features = tuple(c for c in columns if c not in used and c in numeric)
    if task == "classify" and not features:
        raise MissingRoleError("no numeric feature column: classification needs at least one")
    return Roles(task=task, time=found["time"], features=features, id=found["id"],  # type: ignore[arg-type]
                 target=found.get("target"), label=found.get("label"), split=split,
                 inferred=tuple(guess))


def _missing_text(role: str, cols: Columns, names: dict[str, tuple[str, ...]], task: str) -> str:
    explicit = getattr(cols, role, None)
    if explicit:
        return f"the {role} column '{explicit}' (named in the options) is not in the file"
    return (f"no {role} column for task '{task}': name one with --{role} COLUMN, "
            f"or rename it to one of {', '.join(names[role])}")
