"""The typed files one stage writes and another reads, and the one place that reads and
writes them. File names live in `schemas.layout.Layout`; docs/contracts.md describes each.

Every JSON artifact carries `schema_version`; a reader refuses a file of another version with a
message that says what to do, instead of failing later on a missing key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.data import Roles
from schemas.errors import UsageError
from schemas.files import atomic_write, read_json, write_json
from schemas.intervals import Conformal, Coverage
from schemas.layout import Layout
from schemas.prepared import (
    FORMAT,
    Artifact,
    ClassifyState,
    ForecastState,
    RolesFile,
    Task,
)
from schemas.specs import ModelSpec

RERUN = "rerun the comparison (`seqarena compare`, or `dvc repro`) with this version"
A = TypeVar("A", bound=BaseModel)


# ---- models/NAME/model.json ------------------------------------------------------------------

class CheckRecord(BaseModel):
    """One point of a learning curve: a validation check after `step` optimizer steps."""

    step: int
    val_loss: float | None
    train_loss: float | None


LEGACY_CARD_KEYS = ("n_features", "n_out")  # sizes: now read from the preprocessing state


class ModelCard(Artifact):
    """model.json: what rebuilds the module (task, spec; its input and output sizes are the
    preprocessing state's `n_features` and `n_out`), then what training cost."""

    name: str = ""
    task: Task
    spec: ModelSpec
    params: int = 0
    train_seconds: float = 0.0
    steps: int = 0
    ms_per_step: float = 0.0
    best_step: int = -1
    best_val_loss: float | None = None
    val_improved: bool = True
    stopped: Literal["early_stopping", "max_steps", "max_minutes"] = "max_steps"
    budget: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    fold: int = 0
    threads: int = 1
    device: str | None = Field(None, max_length=200, description=(
        "where it trained: cpu, cuda:0 (name); None on cards written before it was recorded"))
    peak_rss_mib: float | None = None
    rss_growth_mib: float | None = None
    peak_torch_mib: float | None = None
    history: list[CheckRecord] = Field(default_factory=list)
    conformal: Conformal | None = Field(None, description=(
        "forecasters: split-conformal interval half-widths, set in a promoted card from "
        "evaluate's calibration (Row.conformal); None on a training's own card (its "
        "validation residuals are val_residuals.npz beside it), when classifying, and with "
        "forecast.intervals []"))

    @model_validator(mode="before")
    @classmethod
    def _sizes_from_state(cls, raw: Any) -> Any:
        """Cards written before the sizes had one source carried them; the weights' shapes are
        checked against the state's sizes, so they are dropped, not trusted."""
        if isinstance(raw, dict) and any(k in raw for k in LEGACY_CARD_KEYS):
            raw = {k: v for k, v in raw.items() if k not in LEGACY_CARD_KEYS}
        return raw


# ---- metrics.json and decision.json ----------------------------------------------------------

LOWER_IS_BETTER = {"mae": True, "rmse": True, "smape": True, "mase": True,
                   "accuracy": False, "macro_f1": False}
METRICS = {"forecast": ("mae", "rmse", "smape", "mase"), "classify": ("accuracy", "macro_f1")}
DEFAULT_METRIC = {"forecast": "mase", "classify": "macro_f1"}
NAIVE = {"forecast": ("naive", "seasonal_naive"), "classify": ("majority",)}  # must_beat default
CHAMPION = "champion"  # the leaderboard row (and kind) of the model promoted before this run


class Interval(BaseModel):
    """A metric over a model's runs (seeds x folds): mean, sample sd over runs (None for one
    run), and a 95% bootstrap interval over test items (blocks within strata) and seeds."""

    model_config = ConfigDict(extra="forbid")

    mean: float
    sd: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int = 1


class Row(BaseModel):
    """One leaderboard row: a model, a baseline or a reference; its test scores (means over
    runs, with intervals), its error profile and its cost."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("", exclude=True, description=(
        "its name: the key of metrics.json's `models`, set on reading, never written"))
    kind: Literal["model", "baseline", "reference", "champion"]
    status: Literal["ok", "failed", "skipped"]
    params: int = 0
    size_bytes: int = 0
    arch: str | None = None
    runs: int | None = None
    seeds: int | None = None
    folds: int | None = None
    train_seconds: float | None = Field(None, description=(
        "a model's training seconds per run; a reference's fit + predict seconds per fold"))
    ms_per_step: float | None = None
    steps: int | None = None
    best_step: int | None = None
    peak_rss_mib: float | None = None
    rss_growth_mib: float | None = None
    peak_torch_mib: float | None = None
    params_equal_width: int | None = Field(None, description=(
        "parameters at recurrent width 64, for this data's inputs and outputs"))
    kept_seed: int | None = None
    latency_ms: float | None = None
    latency_p95_ms: float | None = None
    batch: int | None = None
    batch_latency_ms: float | None = None
    batch_latency_p95_ms: float | None = None
    throughput_per_s: float | None = None
    onnx_exporter: str | None = Field(None, max_length=20, description=(
        "the exporter whose model.onnx passed parity; None when onnxruntime is not installed"))
    onnx_latency_ms: float | None = None
    onnx_latency_p95_ms: float | None = None
    onnx_throughput_per_s: float | None = None
    onnx_note: str | None = Field(None, max_length=400)
    learned: bool | None = None
    diagnosis: str | None = None
    note: str | None = None
    error: str | None = None
    mae: float | None = None
    rmse: float | None = None
    smape: float | None = None
    mase: float | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    interval: dict[str, Interval] = Field(default_factory=dict)
    profile: list[Any] = Field(default_factory=list, description=(
        "forecast: MASE per horizon step; classify: error rate per sequence-length bucket"))
    coverage: list[Coverage] | None = Field(None, description=(
        "a forecaster's split-conformal intervals: the share of test values each level "
        "covered, mean over runs; None for baselines, references and classifiers"))
    conformal: Conformal | None = Field(None, description=(
        "a forecaster's interval calibration of its kept run (fold 0, kept_seed), pooled "
        "across origins (flows/stages/evaluate/intervals.py); promote writes it into the "
        "promoted card, which predict bounds forecasts with"))

    @property
    def ok(self) -> bool:
        """It was scored."""
        return self.status == "ok"

    @property
    def trained(self) -> bool:
        """A network of this run that trained and was scored."""
        return self.kind == "model" and self.ok

    def score(self, metric: str) -> float:
        """Its mean `metric` (a scored row has every metric of its task)."""
        value = getattr(self, metric)
        if value is None:
            raise ValueError(f"{self.model} has no {metric}")
        return float(value)


class Metrics(Artifact):
    """metrics.json: every row of the leaderboard by name (DVC shows and diffs it), and the
    "your data, measured" table (claim -> architecture -> measured value)."""

    task: Task
    models: dict[str, Row]
    measured: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _named(self) -> Metrics:
        for name, row in self.models.items():
            row.model = name
        return self

    @classmethod
    def of(cls, task: Task, rows: list[Row], measured: dict[str, dict[str, str]]) -> Metrics:
        """The artifact of a leaderboard's rows, in their order."""
        return cls(task=task, measured=measured, models={r.model: r for r in rows})

    def rows(self) -> list[Row]:
        """The leaderboard's rows, named, in the file's order."""
        return list(self.models.values())


class Bound(BaseModel):
    """Non-inferiority of a cheaper model to the best mean, in the metric's units: its excess
    error (positive: worse), the bootstrap's one-sided upper bound at the decision's level,
    the margin, and the p-value that the excess reaches the margin (raw and Holm-adjusted)."""

    model_config = ConfigDict(extra="forbid")

    excess: float
    upper: float
    margin: float
    p_value: float
    p_holm: float
    shown: bool


class Decision(Artifact):
    """decision.json: the winner under the promotion policy (or None) and why."""

    metric: str
    lower_is_better: bool
    winner: str | None = None
    reason: str = ""
    notes: dict[str, str] = Field(default_factory=dict)
    best_model: str | None = None
    best_baseline: str | None = None
    tied: list[str] = Field(default_factory=list)
    level: float = 0.05
    must_beat: list[str] = Field(default_factory=list)
    tests: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "the paired test of the best model against each other model and baseline"))
    references: dict[str, str] = Field(default_factory=dict, description=(
        "whether the winner beats each reference baseline, in words"))
    beaten_by: list[str] = Field(default_factory=list, description=(
        "references shown better than the winner (paired tests, Holm-adjusted, at `level`), "
        "best first"))
    headline: str | None = Field(None, description=(
        "said before everything else when a reference beats the winner: which, by how much, "
        "at what cost"))
    outcome: Literal["promoted", "kept", "none"] = Field("none", description=(
        "promoted: `winner` is the new champion; kept: the champion stays; none: nothing"))
    champion: str | None = Field(None, description="the version challenged (versions/NAME)")
    challenger: str | None = Field(None, description="the best challenger, when it was tested "
                                   "against the champion")
    champion_test: dict[str, Any] | None = None
    rule: Literal["better", "non_inferior", "cannot_tell"] | None = Field(None, description=(
        "better: the best mean is significantly better than every other eligible model; "
        "non_inferior: a cheaper model shown within the margin; cannot_tell: neither"))
    margin: float | None = Field(None, description="the non-inferiority margin, metric units")
    prefer: str = "latency"
    bounds: dict[str, Bound] = Field(default_factory=dict, description=(
        "each model cheaper than the best mean, tested for non-inferiority"))
    detectable: float | None = Field(None, description=(
        "the smallest difference from the runner-up the test detects (80% power)"))
    units: int | None = Field(None, description="independent test units (blocks) resampled")


# ---- reading and writing ---------------------------------------------------------------------

def problems(exc: ValidationError, skip: Callable[[object], bool] = lambda _: False) -> list[str]:
    """pydantic errors as `key: message` (no error URLs; `skip` drops tag parts of keys)."""
    out = []
    for err in exc.errors(include_url=False):
        parts = [p for p in err["loc"] if not skip(p)]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        out.append(f"{key or 'the file'}: {err['msg']}")
    return out


def format_problem(raw: dict[str, Any]) -> str | None:
    """Why a file's `schema_version` cannot be read by this version, or None when it can."""
    found = raw.get("schema_version")
    if found == FORMAT:
        return None
    return (f"written by an incompatible seqarena version (schema_version {found!r}; this "
            f"version reads {FORMAT})")


def parse(model: type[A], raw: Any, path: Path, fix: str = RERUN) -> A:
    """`raw` (a JSON value read from `path`) as `model`; a UsageError naming the file if not."""
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: does not hold a JSON object; {fix}.")
    bad = format_problem(raw)
    if bad:
        raise UsageError(f"{path}: {bad}; {fix}.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: {'; '.join(problems(exc)[:5])}; {fix}.") from None


def read(model: type[A], path: Path, fix: str = RERUN) -> A:
    """Read a JSON artifact written by an earlier stage."""
    if not path.exists():
        raise UsageError(f"{path}: missing; run the stages before this one ({fix}).")
    return parse(model, read_json(path), path, fix)


def write(path: Path, artifact: BaseModel, exclude_none: bool = False) -> Path:
    """Write a JSON artifact atomically (`exclude_none`: leave unset values out)."""
    return write_json(path, artifact.model_dump(mode="json", exclude_none=exclude_none))


def read_prepared(path: Path) -> ForecastState | ClassifyState:
    """A prepared state (prepared/state.json or a model folder's preprocessing.json)."""
    if not path.exists():
        raise UsageError(f"{path}: missing; run the stages before this one ({RERUN}).")
    raw = read_json(path)
    classify = isinstance(raw, dict) and raw.get("task") == "classify"
    return parse(ClassifyState if classify else ForecastState, raw, path)


def read_state(layout: Layout, fold: int = 0) -> ForecastState | ClassifyState:
    """A fold's prepared state (prepared/state.json for the holdout), as the task's state."""
    return read_prepared(layout.state_of(fold))


def write_arrays(layout: Layout, arrays: dict[str, np.ndarray], fold: int = 0) -> Path:
    """A fold's prepared tensors (prepared/arrays.npz for the holdout)."""
    def save(path: Path) -> None:
        with path.open("wb") as f:
            np.savez(f, **arrays)
    return atomic_write(layout.arrays_of(fold), save)


class PreparedArrays(dict[str, np.ndarray]):
    """The prepared tensors. Forecast inputs are stored once as series rows plus window
    starts; `x_SPLIT` (N, lookback, F) is cut from them on access, as a copy (training batches
    them with modules.batching.Windows instead, without one). The lookback is the fold's
    state.json's (None when classifying): arrays.npz does not store it again."""

    def __init__(self, arrays: dict[str, np.ndarray], lookback: int | None = None) -> None:
        super().__init__(arrays)
        self.lookback = lookback

    def __missing__(self, key: str) -> np.ndarray:
        if not (key.startswith("x_") and "series" in self and self.lookback):
            raise KeyError(key)
        rows = sliding_window_view(self["series"], self.lookback, axis=0)  # (R', F, L)
        return rows[self[f"start_{key[2:]}"]].transpose(0, 2, 1)  # (N, L, F)


SPLIT_NAMES = ("train", "val", "test")


def read_arrays(layout: Layout, fold: int = 0, splits: tuple[str, ...] = SPLIT_NAMES
                ) -> PreparedArrays:
    """A fold's prepared tensors, read without pickle, with the lookback of its state; only
    `splits`' arrays (and the series rows) are read: a tuning trial never reads test's."""
    lookback = getattr(read_state(layout, fold), "lookback", None)
    with np.load(layout.arrays_of(fold), allow_pickle=False) as z:
        keys = [k for k in z.files if k.rpartition("_")[2] not in SPLIT_NAMES
                or k.rpartition("_")[2] in splits]
        return PreparedArrays({k: z[k] for k in keys}, lookback)


class ValidationReport(Artifact):
    """validation.json, the `validate` stage's report: the keys later stages read are typed;
    the rest (per-check details, groups) are kept as written (docs/contracts.md lists them)."""

    model_config = ConfigDict(extra="allow")

    file: str
    status: str
    task: Task | None = None
    roles: RolesFile | None = None
    rows_in: int = 0
    rows_used: int = 0
    rows_quarantined: int = 0
    rows_added: int = 0
    unit: str = "series"
    step: str | None = None
    grid: dict[str, Any] | None = None
    season: int | None = None
    lookback: int | None = None
    inferred_settings: list[str] = Field(default_factory=list)
    checks: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Validated:
    """What `validate` hands to `preprocess`: validated.parquet and the roles it resolved."""

    frame: pl.DataFrame
    roles: Roles


def write_validation(layout: Layout, report: dict[str, Any]) -> Path:
    """validation.json, with the schema_version stamp."""
    return write_json(layout.validation, {"schema_version": FORMAT, **report})


def read_validation(layout: Layout) -> ValidationReport:
    """validation.json."""
    return read(ValidationReport, layout.validation)


def read_validated(layout: Layout) -> Validated:
    """Read back what `validate` wrote: the rows and their roles."""
    report = read_validation(layout)
    if report.roles is None or report.status != "passed":
        raise UsageError(f"{layout.validation}: the data did not pass validation; "
                         "fix the data and run `validate` again.")
    return Validated(frame=pl.read_parquet(layout.validated), roles=report.roles.to_roles())
