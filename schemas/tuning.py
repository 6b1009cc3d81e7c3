"""train.tune's typed records: a trial handed to a worker (Ticket), what it did
(TrialRecord), and tuning/tuning.json (Tuning): every trial of every model, and its choice."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.prepared import Artifact
from schemas.space import Pruner
from schemas.specs import ModelSpec

TrialState = Literal["complete", "pruned", "skipped", "failed"]


class Ticket(BaseModel):
    """One trial for a worker: model `model`'s trial `number` of its study in the journal
    `study`, with the sampled `spec` (its lr and weight decay included)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    number: int
    trial_id: int
    spec: ModelSpec
    params: int
    study: str
    pruner: Pruner = "median"
    seed: int | None = Field(None, description=(
        "None: a trial of the search (seed train.seed, fold 0, reported to its study, "
        "prunable); a seed: a confirmation run of trial `number` with that seed on `fold` "
        "(unpruned, not in the study)"))
    fold: int = Field(0, ge=0, description="whose train and val splits it trains on")


class TrialRecord(BaseModel):
    """One trial: the settings it sampled, their parameter count on this data, the optimizer
    steps it took, its best validation loss, its seconds and how it ended (skipped: over
    tune.max_params, not trained)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    number: int
    state: TrialState
    spec: ModelSpec
    params: int
    steps: int = 0
    max_steps: int = Field(0, description="the budget's steps (a training's: plan_budget)")
    val_loss: float | None = None
    seconds: float = 0.0
    seed: int | None = Field(None, description="a confirmation run's seed; None: a trial")
    fold: int = 0
    note: str = Field("", max_length=2000)


class ArmTuning(BaseModel):
    """One model's search: its space in words, its trials, the confirmation runs of its pick
    and of trial 0 with more seeds, and the chosen trial (None: no trial completed, so the
    model trains as configured)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    space: list[str]
    trials: list[TrialRecord] = Field(default_factory=list)
    confirm: list[TrialRecord] = Field(default_factory=list, description=(
        "tune.confirm_runs runs each of the search's pick and of trial 0, when they differ"))
    pick: int | None = Field(None, description="the search's best complete trial (one seed)")
    best: int | None = None

    def count(self, state: TrialState) -> int:
        """Trials that ended in `state`."""
        return sum(t.state == state for t in self.trials)

    @property
    def steps(self) -> int:
        """Optimizer steps over every trial and confirmation run."""
        return sum(t.steps for t in self.trials + self.confirm)

    @property
    def seconds(self) -> float:
        """Training seconds over every trial and confirmation run."""
        return sum(t.seconds for t in self.trials + self.confirm)

    def losses(self, number: int) -> list[float | None]:
        """Trial `number`'s validation losses: its search run's, then its confirmation runs'
        in order of seed (each pairs with the same run of another trial)."""
        runs = sorted((t for t in self.confirm if t.number == number), key=lambda t: t.seed or 0)
        return [t.val_loss for t in self.trials if t.number == number] + [
            t.val_loss for t in runs]

    def ratio(self) -> float | None:
        """The pick's validation loss over trial 0's, the geometric mean over their paired
        runs (None: a run has no finite, positive loss)."""
        if self.pick is None:
            return None
        mine, zero = self.losses(self.pick), self.losses(0)
        pairs = list(zip(mine, zero, strict=True)) if len(mine) == len(zero) else []
        if not pairs or not all(a and b and math.isfinite(a) and math.isfinite(b) and a > 0
                                and b > 0 for a, b in pairs):
            return None
        return math.exp(sum(math.log(a / b) for a, b in pairs) / len(pairs))  # type: ignore[operator]

    @property
    def chosen(self) -> TrialRecord | None:
        """The best complete trial, if any."""
        return next((t for t in self.trials if t.number == self.best), None)


class Tuning(Artifact):
    """tuning/tuning.json: how every model was searched, on fold 0's train and val splits."""

    trials: int
    sampler: str
    pruner: Pruner
    max_params: int
    confirm_runs: int = Field(0, description="tune.confirm_runs (0 in runs made before it)")
    arms: list[ArmTuning] = Field(default_factory=list)
