"""The typed calibration of split-conformal forecast intervals (a model card's `conformal`) and
the coverage evaluate measures with it (a leaderboard row's `coverage`). Torch-free: pydantic
only, so a predict path without torch reads it."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.specs import MAX_OUT

MAX_LEVELS = 20  # interval levels at once: more than any table shows


def check_levels(levels: list[float]) -> list[float]:
    """Levels strictly between 0 and 1, none twice, sorted; a ValueError says which is not."""
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"an interval level must be strictly between 0 and 1, not {level}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"interval levels must be unique, not {levels}")
    return sorted(levels)


class Band(BaseModel):
    """One level's half-widths, one per horizon step, in the model's scaled units: the
    ceil((n+1)·level)-th smallest |residual| of that step; when that rank exceeds n and H > 1,
    pooled across steps with a per-step scale (`pooled`, modules.conformal); None (unbounded)
    when no method has enough residuals."""

    model_config = ConfigDict(extra="forbid")

    level: float = Field(gt=0, lt=1)
    quantiles: list[float | None] = Field(min_length=1, max_length=MAX_OUT)  # (H,)
    pooled: bool = False  # pooled across horizon steps (too few windows per step); old cards: no

    @model_validator(mode="after")
    def _finite(self) -> Band:
        if any(q is not None and not (math.isfinite(q) and q >= 0) for q in self.quantiles):
            raise ValueError("a conformal quantile must be a finite number >= 0, or null")
        return self


class Conformal(BaseModel):
    """Split-conformal calibration of a forecaster on validation windows: absolute residuals
    |y - ŷ| in scaled units (per series scale), per horizon step; `n` windows, from the
    validation splits of `origins` folds (its own and the deeper ones; evaluate's intervals)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["split-conformal"] = "split-conformal"
    n: int = Field(ge=0)
    origins: int = Field(1, ge=1)  # cards written before pooling: their own validation only
    bands: list[Band] = Field(max_length=MAX_LEVELS)

    @model_validator(mode="after")
    def _consistent(self) -> Conformal:
        levels = [b.level for b in self.bands]
        if check_levels(levels) != levels:
            raise ValueError("conformal bands must be in increasing order of level")
        if len({len(b.quantiles) for b in self.bands}) > 1:
            raise ValueError("every level needs one quantile per horizon step")
        return self

    @property
    def levels(self) -> list[float]:
        """The calibrated levels, in order."""
        return [b.level for b in self.bands]


class Coverage(BaseModel):
    """The share of test values inside a level's interval: the mean over runs (seeds x
    folds) of each run's share over its test windows and horizon steps, and its sd over runs
    (one short test split's share swings from fold to fold)."""

    model_config = ConfigDict(extra="forbid")

    level: float = Field(gt=0, lt=1)
    covered: float = Field(ge=0, le=1)
    runs: int = Field(1, ge=1)
    sd: float | None = Field(None, ge=0)  # of the runs' shares (None for one run)
    pooled: int = Field(0, ge=0)  # runs whose band was pooled across horizon steps (Band.pooled)
