"""The base of every typed artifact, and prepared/state.json: what `preprocess` fitted on the
training split (also a model folder's preprocessing.json). Read and written by
schemas/artifacts.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.config import Task
from schemas.data import HUGE, Roles
from schemas.specs import MAX_FEATURES, MAX_OUT

FORMAT = 1  # schema_version: bump when a field changes meaning; readers refuse others



class Artifact(BaseModel):
    """Base of every JSON artifact: unknown keys are refused, `schema_version` checked on read."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = FORMAT


class ScalingRow(BaseModel):
    """Training-split statistics of one column of one series."""

    model_config = ConfigDict(extra="forbid")

    series: str
    column: str
    # data values are at most HUGE in size (the validation rules), so their mean is too and their
    # sample std at most sqrt(2) HUGE: beyond that a card was not made from data seqarena took
    mean: float = Field(ge=-HUGE, le=HUGE, allow_inf_nan=False)
    std: float = Field(gt=0, le=2 * HUGE, allow_inf_nan=False)


class RolesFile(BaseModel):
    """Which input column plays which role (schemas.data.Roles as JSON)."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    time: str
    features: list[str]
    id: str | None = None
    target: str | None = None
    label: str | None = None
    split: str | None = None
    inferred: list[str] = []

    def to_roles(self) -> Roles:
        """The dataclass the stages use."""
        return Roles.from_dict(self.model_dump())


class Carved(BaseModel):
    """Validation rows or sequences taken from train because the split column had no 'val'."""

    count: int
    unit: str
    how: str


class Truncated(BaseModel):
    """Sequences cut to classify.max_length."""

    count: int
    max_length: int
    ids: list[str]
    lengths: list[int]


class PreparedState(Artifact):
    """What `preprocess` fitted on the training split, the part both tasks share."""

    task: Task
    roles: RolesFile
    counts: dict[str, int] = {}
    columns: list[str] = Field(min_length=1, max_length=MAX_FEATURES,
                               description="input columns in tensor order")
    scaling: list[ScalingRow] = Field(min_length=1)
    val_carved: Carved | None = None

    @property
    def n_features(self) -> int:
        """Inputs per step of the model trained on this state: one per column."""
        return len(self.columns)

    def notes(self, escape: Callable[[object], str] = str) -> list[str]:
        """What preprocessing changed that a person must know; `escape` renders user ids."""
        carved = self.val_carved
        if not carved:
            return []
        return [f"val carved from train: {carved.count} {carved.unit}, {carved.how} "
                "(the split column has no 'val')"]


class ForecastState(PreparedState):
    """Forecasting: per-series scaling; columns are the target, then the covariates."""

    task: Literal["forecast"] = "forecast"
    series: list[str] = Field(min_length=1)
    mase_scale: list[float] = []
    too_short: list[str] = []
    lookback: int = Field(ge=1)
    horizon: int = Field(ge=1, le=MAX_OUT)
    season: int = Field(1, ge=1)
    step: str | None = Field(None, description="the time step validation inferred")
    grid: dict[str, int | str | bool] | None = Field(None, description=(
        "that step as numbers (every, unit, months, wall): predict dates its forecasts by it"))
    inferred_settings: list[str] = Field(default_factory=list, description=(
        "forecast settings inferred from the data (season, lookback), not given"))
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    fold: int = Field(0, ge=0, description="0: the holdout; k: the cut-off k test lengths back")
    folds: int = Field(1, ge=1, description="rolling origins in this comparison")

    @property
    def n_out(self) -> int:
        """Outputs of the model trained on this state: one per horizon step."""
        return self.horizon

    @property
    def target(self) -> str:
        """The forecast column (roles.target; preprocess puts it first in `columns`)."""
        return self.roles.target or self.columns[0]


class ClassifyState(PreparedState):
    """Classification: one scaling for all sequences; columns are the features."""

    task: Literal["classify"] = "classify"
    classes: list[str] = Field(min_length=1, max_length=MAX_OUT)
    max_length: int | None = Field(None, ge=1, description="steps kept per sequence")
    truncated: Truncated | None = None

    def notes(self, escape: Callable[[object], str] = str) -> list[str]:
        out = []
        cut = self.truncated
        if cut and cut.count:
            shown = ", ".join(map(escape, cut.ids[:5])) + (", ..." if cut.count > 5 else "")
            out.append(f"{cut.count} sequence(s) longer than classify.max_length were cut to "
                       f"their first {cut.max_length} steps: {shown} (prepared/state.json "
                       "lists them all)")
        return out + super().notes(escape)

    @property
    def folds(self) -> int:
        """Sequences are split once: one fold."""
        return 1

    @property
    def n_out(self) -> int:
        """Outputs of the model trained on this state: one logit per class."""
        return len(self.classes)


State = ForecastState | ClassifyState
