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
        "None: a trial of the search (seed train.seed, reported to its study, prunable); a "
        "seed: a confirmation run of trial `number` with that seed (unpruned, not in the "
        "study)"))
    fold: int = Field(0, ge=0, description="whose train and val splits it trains on: the "
                      "tuning fold (Tuning.fold)")

    @property
    def label(self) -> str:
        """The trial in a few characters (its task run's name): `lstm-3`, `lstm-3-seed1`."""
        return f"{self.model}-{self.number}" + ("" if self.seed is None else f"-seed{self.seed}")


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
    best: int | None = Field(None, description="the chosen trial (modules.tuner.decide)")

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

    def _runs(self, number: int) -> dict[int, float | None]:
        """Trial `number`'s confirmation runs by seed: its validation loss (None: failed)."""
        return {t.seed or 0: t.val_loss if t.val_loss is not None and math.isfinite(t.val_loss)
                else None for t in self.confirm if t.number == number}

    def fresh(self, number: int) -> list[float | None]:
        """Trial `number`'s validation losses in its confirmation runs, in order of seed
        (None: the run failed)."""
        runs = self._runs(number)
        return [runs[seed] for seed in sorted(runs)]

    def lost(self) -> bool:
        """Whether a confirmation run of the pick failed, or is missing where trial 0 ran."""
        mine = self._runs(self.pick) if self.pick is not None else {}
        return None in mine.values() or bool(self._runs(0).keys() - mine.keys())

    def pairs(self) -> list[tuple[float, float]]:
        """The judged pairs of confirmation runs with the same seed, (the pick's loss, trial
        0's): those where both have a finite loss (a failed run of trial 0 says nothing about
        the pick)."""
        if self.pick is None:
            return []
        mine, zero = self._runs(self.pick), self._runs(0)
        both = sorted(mine.keys() & zero.keys())
        return [(a, b) for a, b in ((mine[s], zero[s]) for s in both)
                if a is not None and b is not None]

    def ratio(self) -> float | None:
        """The pick's validation loss over trial 0's, the geometric mean over the judged pairs
        of confirmation runs (None: no pair, or a loss of 0 or below)."""
        pairs = self.pairs()
        if not pairs or not all(a > 0 and b > 0 for a, b in pairs):
            return None
        return math.exp(sum(math.log(a / b) for a, b in pairs) / len(pairs))

    @property
    def chosen(self) -> TrialRecord | None:
        """The chosen trial's record (None: no trial completed)."""
        return next((t for t in self.trials if t.number == self.best), None)


class Tuning(Artifact):
    """tuning/tuning.json: how every model was searched, on the tuning fold's train and val
    splits."""

    trials: int
    fold: int = Field(0, ge=0, description=(
        "the tuning fold: the earliest origin (the deepest fold), whose validation rows come "
        "before every fold's test rows; fold 0 when there is one"))
    sampler: str
    pruner: Pruner
    max_params: int
    confirm_runs: int = Field(0, description="tune.confirm_runs (0 in runs made before it)")
    arms: list[ArmTuning] = Field(default_factory=list)
