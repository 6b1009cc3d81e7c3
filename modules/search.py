"""Optuna for train.tune: the specs' search spaces as distributions, the seeded TPE sampler,
the pruner every model shares, the journal storage of a run, and the Lightning callback that
reports each validation check to a trial."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from schemas.specs import ModelSpec, Spec
from schemas.tuning import Pruner

MEDIAN_STARTUP = 2  # trials of a model that the median pruner never stops
TPE_STARTUP = 10  # random trials before TPE models the results (fewer for a short search)


def distributions(spec: type[Spec]) -> dict[str, BaseDistribution]:
    """The search space of a spec class, as Optuna distributions."""
    out: dict[str, BaseDistribution] = {}
    for dim in spec.SPACE:
        if dim.choices:
            out[dim.name] = CategoricalDistribution(dim.choices)
        elif dim.integer:
            out[dim.name] = IntDistribution(int(dim.low or 0), int(dim.high or 0), log=dim.log)
        else:
            out[dim.name] = FloatDistribution(dim.low or 0.0, dim.high or 0.0, log=dim.log)
    return out


def configured_point(spec: ModelSpec) -> dict[str, Any]:
    """`spec`'s own settings as a point of its space, for the sampler (each clipped into its
    range, so a weight decay of 0 is the space's lowest; a choice the space lacks is left for
    the sampler)."""
    point: dict[str, Any] = {}
    for dim in type(spec).SPACE:
        value = getattr(spec, dim.name)
        if dim.choices:
            value = ",".join(map(str, value)) if isinstance(value, list) else value
            if value in dim.choices:
                point[dim.name] = value
        elif value is not None:
            clipped = min(max(value, dim.low or 0.0), dim.high or 0.0)
            point[dim.name] = round(clipped) if dim.integer else float(clipped)
    return point


def sampled_spec(spec: ModelSpec, params: dict[str, Any]) -> ModelSpec:
    """`spec` with a trial's sampled values (validated: a bad combination raises)."""
    values = {d.name: d.value(params[d.name]) for d in type(spec).SPACE if d.name in params}
    return type(spec).model_validate({**spec.model_dump(), **values})


def sampler(seed: int, trials: int) -> optuna.samplers.TPESampler:
    """TPE, seeded: random for the first half of a short search (at most TPE_STARTUP)."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(TPE_STARTUP,
                                                                            trials // 2)))


def pruner(kind: Pruner, warmup_steps: int = 0) -> optuna.pruners.BasePruner:
    """The pruner of every model: median (not before `warmup_steps`), halving or none."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP,
                                           n_warmup_steps=warmup_steps)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def storage(path: Path) -> JournalStorage:
    """The run's journal (an append-only file, safe for several processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def open_study(path: Path, name: str, seed: int, trials: int, kind: Pruner) -> optuna.Study:
    """Model `name`'s study in the journal at `path`, created if new."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=storage(path), direction="minimize",
                               sampler=sampler(seed, trials), pruner=pruner(kind),
                               load_if_exists=True)


def worker_trial(path: Path, name: str, trial_id: int, kind: Pruner, warmup_steps: int
                 ) -> optuna.Trial:
    """The trial `trial_id` of study `name`, as a worker reports to it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=storage(path),
                              pruner=pruner(kind, warmup_steps))
    return optuna.Trial(study, trial_id)


class PruneCallback(pl.Callback):
    """Reports each validation check's loss to the trial at its optimizer step, and stops
    training when the pruner says so (`pruned_at` is then that step)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        val = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or val is None or not math.isfinite(float(val)):
            return
        self.trial.report(float(val), trainer.global_step)
        if self.trial.should_prune():
            self.pruned_at = trainer.global_step
            trainer.should_stop = True
