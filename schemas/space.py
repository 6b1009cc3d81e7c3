"""`train.tune`: its configuration, and the search spaces' dimensions that each spec class
lists (schemas/specs.py), typed and torch-free; modules/search.py turns them into Optuna
distributions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Pruner = Literal["median", "halving", "none"]


class Dim(BaseModel):
    """One dimension: a spec field (or lr / weight_decay), a numeric range or a few choices.
    A choice written as text ("3,5,9") is a list of whole numbers (the cnn's kernels)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[int | float | str, ...] = ()

    def describe(self) -> str:
        """The range in words, for the report: `hidden 16-256 (log)`, `heads {1, 2, 4}`."""
        if self.choices:
            shown = ", ".join(f"[{c}]" if isinstance(c, str) else str(c) for c in self.choices)
            return f"{self.name} {{{shown}}}"
        return f"{self.name} {self.low:g}-{self.high:g}" + (" (log)" if self.log else "")

    def value(self, raw: Any) -> Any:
        """A sampled value as the spec takes it."""
        if isinstance(raw, str):
            return [int(k) for k in raw.split(",")]
        return int(raw) if self.integer else raw


def ints(name: str, low: int, high: int, log: bool = False) -> Dim:
    """Whole numbers from `low` to `high`."""
    return Dim(name=name, low=low, high=high, log=log, integer=True)


def floats(name: str, low: float, high: float, log: bool = False) -> Dim:
    """Real numbers from `low` to `high`."""
    return Dim(name=name, low=low, high=high, log=log)


def choice(name: str, *values: int | float | str) -> Dim:
    """One of `values`."""
    return Dim(name=name, choices=values)


class TuneConfig(BaseModel):
    """Hyper-parameter search before the trainings: every model gets `trials` Optuna trials
    over its spec's search space (schemas/specs.py), each under the training budget, on the
    training and validation splits of the earliest fold only; its best trial's settings are
    then trained with every seed and fold and scored on the test split once. Unknown keys
    are rejected."""

    model_config = ConfigDict(extra="forbid")

    trials: int = Field(0, ge=0, le=1000, description=(
        "trials per model (TPE sampler seeded from train.seed); 0: no search, each model as "
        "configured"))
    pruner: Pruner = Field("median", description=(
        "stops a trial whose validation loss trails: median (Optuna's MedianPruner, from "
        "min_steps on) or halving (SuccessiveHalvingPruner); the same for every model"))
    max_params: int = Field(1_000_000, ge=1, description=(
        "parameters a sampled model may have on this data; a trial above it is not trained "
        "(recorded as skipped). Every search space stays below 1,000,000 for up to 8 "
        "inputs and 24 outputs (tests/modules/test_search.py)"))
    confirm_runs: int = Field(1, ge=0, le=10, description=(
        "when the search picks another trial than the configured settings (trial 0), both "
        "train again this many times, unpruned: run k with seed train.seed + k, on the "
        "tuning fold's train and val splits; the pick replaces the configured settings only "
        "if its validation loss is lower on the geometric mean of the ratios over these runs "
        "(the search's run, which chose it, does not count again: a lucky seed does not "
        "choose); 0: the search's best trial alone decides"))
    compare_untuned: bool = Field(False, description=(
        "also train every model as configured (the same seeds and folds) and score it on the "
        "test split beside the tuned ones (the run's untuned/ folder): the report says whether "
        "tuning changed the GRU/LSTM verdict; needs trials > 0"))

    @model_validator(mode="after")
    def _untuned_needs_trials(self) -> TuneConfig:
        if self.compare_untuned and not self.trials:
            raise ValueError("compare_untuned sets tuned models beside untuned ones, but "
                             "trials is 0; set train.tune.trials (--trials N)")
        return self
