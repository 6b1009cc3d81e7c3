"""train.tune's typed records: a trial handed to a worker (Ticket), what it did
(TrialRecord), and tuning/tuning.json (Tuning): every trial of every model, and its choice."""

from __future__ import annotations

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
    note: str = Field("", max_length=2000)


class ArmTuning(BaseModel):
    """One model's search: its space in words, its trials, and the chosen trial (None: no
    trial completed, so the model trains as configured)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    space: list[str]
    trials: list[TrialRecord] = Field(default_factory=list)
    best: int | None = None

    def count(self, state: TrialState) -> int:
        """Trials that ended in `state`."""
        return sum(t.state == state for t in self.trials)

    @property
    def steps(self) -> int:
        """Optimizer steps over every trial."""
        return sum(t.steps for t in self.trials)

    @property
    def seconds(self) -> float:
        """Training seconds over every trial."""
        return sum(t.seconds for t in self.trials)

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
    arms: list[ArmTuning] = Field(default_factory=list)
