"""The bookkeeping of train.tune in the process that runs the fan-out: one Optuna study per
model, trials asked in rounds (ask and tell), so each model gets exactly `trials` of them,
and every trial's record. Trial 0 of every model is its configured settings (enqueued), so
the search can only choose what beat them on validation; with tune.confirm_runs, again on
runs with fresh seeds. Every trial and run trains on the tuning fold, the earliest origin:
its validation rows come before every fold's test rows, so no scored test row guided a
choice."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from optuna.trial import TrialState
from pydantic import ValidationError

from modules.lit import module_for
from modules.search import configured_point, distributions, open_study, sampled_spec
from schemas.config import TrainConfig
from schemas.prepared import ClassifyState, ForecastState
from schemas.specs import ModelSpec
from schemas.tuning import ArmTuning, Ticket, TrialRecord, Tuning

ENDED = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
         "skipped": TrialState.PRUNED, "failed": TrialState.FAIL}


def size(spec: ModelSpec, state: ForecastState | ClassifyState) -> int:
    """Parameters `spec` has on this data, from shapes only (the meta device)."""
    with torch.device("meta"):
        module = module_for(spec, state)
    return sum(p.numel() for p in module.parameters())


def pick(trials: list[TrialRecord]) -> int | None:
    """The search's choice: the complete trial with the lowest finite validation loss."""
    done = [t for t in trials if t.state == "complete" and t.val_loss is not None
            and math.isfinite(t.val_loss)]
    return min(done, key=lambda t: (t.val_loss, t.number)).number if done else None


def decide(arm: ArmTuning) -> int | None:
    """The chosen trial: the search's pick, unless confirmation runs were made and its
    validation loss is not lower than trial 0's over them (the geometric mean of the ratios
    of the judged pairs). The search's own run chose the pick and is not counted again. A
    failed (or missing) run of the pick keeps trial 0; pairs where trial 0's run failed are
    not judged, and when trial 0 failed every run, the pick is kept."""
    if arm.pick in (None, 0) or not arm.confirm:
        return arm.pick
    if arm.lost():
        return 0
    pairs = arm.pairs()
    if not pairs:
        return arm.pick
    ratio = arm.ratio()
    if ratio is None:  # a loss of 0 or below: compare the means
        mine, zero = zip(*pairs, strict=True)
        return arm.pick if sum(mine) < sum(zero) else 0
    return arm.pick if ratio < 1 else 0


class Tuner:
    """The studies of one run (journal `path`): ask trials, tell their ends, keep records."""

    def __init__(self, models: dict[str, ModelSpec], tc: TrainConfig, path: Path,
                 state: ForecastState | ClassifyState) -> None:
        self.tune, self.path, self.state, self.seed = tc.tune, path, state, tc.seed
        self.fold = state.folds - 1  # the earliest origin (Tuning.fold)
        self.models = {name: spec.with_rates(tc.lr, tc.weight_decay)  # as trained untuned
                       for name, spec in models.items()}
        self.studies = {name: open_study(path, name, tc.seed, tc.tune.trials, tc.tune.pruner)
                        for name in models}
        self.asked = dict.fromkeys(models, 0)
        self.arms = {name: ArmTuning(model=name, space=[d.describe() for d in type(s).SPACE])
                     for name, s in models.items()}

    @property
    def done(self) -> bool:
        """Whether every model has been asked all its trials."""
        return all(n >= self.tune.trials for n in self.asked.values())

    def ask(self, per_model: int) -> list[Ticket]:
        """Up to `per_model` new trials of each model still short of tune.trials; those over
        tune.max_params (or invalid) are recorded as skipped, not returned."""
        tickets = []
        for name, base in self.models.items():
            for _ in range(min(per_model, self.tune.trials - self.asked[name])):
                first = self.asked[name] == 0
                if first:  # the configured settings, as near as the space allows
                    self.studies[name].enqueue_trial(configured_point(base))
                self.asked[name] += 1
                trial = self.studies[name].ask(distributions(type(base)))
                ticket = self._ticket(name, base, trial.number, trial._trial_id,
                                      {} if first else trial.params)
                if ticket is not None:
                    tickets.append(ticket)
        return tickets

    def _ticket(self, name: str, base: ModelSpec, number: int, trial_id: int,
                params: dict) -> Ticket | None:
        """The trial to train (no `params`: the configured settings, exactly), or None when it
        is skipped (recorded here)."""
        try:
            spec = sampled_spec(base, params)
        except ValidationError as exc:
            self.tell(TrialRecord(model=name, number=number, state="skipped", spec=base,
                                  params=0, note=f"invalid settings: {exc.errors()[0]['msg']}"))
            return None
        count = size(spec, self.state)
        if count > self.tune.max_params:
            self.tell(TrialRecord(model=name, number=number, state="skipped", spec=spec,
                                  params=count, note=f"{count:,} parameters, over "
                                  f"tune.max_params {self.tune.max_params:,}: not trained"))
            return None
        return Ticket(model=name, number=number, trial_id=trial_id, spec=spec, params=count,
                      study=str(self.path), pruner=self.tune.pruner, fold=self.fold)

    def tell(self, record: TrialRecord) -> None:
        """End a trial in its study and keep its record."""
        value = record.val_loss if record.state == "complete" else None
        self.studies[record.model].tell(record.number, value, state=ENDED[record.state])
        self.arms[record.model].trials.append(record)

    def confirm_tickets(self) -> list[Ticket]:
        """tune.confirm_runs more runs of each model's pick and of its trial 0 (however trial 0
        ended in the search), for the models whose pick is another trial: run k with seed
        train.seed + k, on the tuning fold."""
        tickets = []
        for name, arm in self.arms.items():
            chosen = pick(arm.trials)
            if chosen in (None, 0) or not any(t.number == 0 for t in arm.trials):
                continue
            for record in (t for n in (chosen, 0) for t in arm.trials if t.number == n):
                tickets += [Ticket(model=name, number=record.number, trial_id=-1,
                                   seed=self.seed + k, fold=self.fold, spec=record.spec,
                                   params=record.params, study=str(self.path))
                            for k in range(1, self.tune.confirm_runs + 1)]
        return tickets

    def result(self, seed: int) -> Tuning:
        """tuning.json: every model's trials in order, its pick, and its choice (decide)."""
        arms = []
        for arm in self.arms.values():
            trials = sorted(arm.trials, key=lambda t: t.number)
            arm = arm.model_copy(update={"trials": trials, "pick": pick(trials), "confirm": sorted(
                arm.confirm, key=lambda t: (t.number == 0, t.seed))})
            arms.append(arm.model_copy(update={"best": decide(arm)}))
        return Tuning(trials=self.tune.trials, fold=self.fold, sampler=f"TPE sampler (seed {seed})",
                      pruner=self.tune.pruner, max_params=self.tune.max_params,
                      confirm_runs=self.tune.confirm_runs, arms=arms)

    def run(self, per_model: int, run_round: Callable[[list[Ticket]], Iterable[TrialRecord]]
            ) -> None:
        """Ask and run rounds of up to `per_model` trials per model until every model has
        had tune.trials (`run_round` trains a round's tickets, in parallel, and yields their
        records); each round's results reach the sampler before the next is asked. Then one
        round of the confirmation runs."""
        while not self.done:
            tickets = self.ask(per_model)
            for record in run_round(tickets) if tickets else ():
                self.tell(record)
        tickets = self.confirm_tickets()
        for record in run_round(tickets) if tickets else ():
            self.arms[record.model].confirm.append(record)
