"""One trial of train.tune: the training stage's budget and callbacks on the tuning fold's
(the ticket's) training and validation splits only (the test arrays are never read),
reporting each validation check to its Optuna trial, which may stop it early (pruned)."""

from __future__ import annotations

import time

import torch

from flows.runtime.procs import crash_point
from flows.stages.train.stage import _callbacks, _trainer
from modules.budget import plan_batch, plan_budget
from modules.lit import auto_stem, module_for
from modules.search import PruneCallback, worker_trial
from modules.training import (
    BestWeights,
    TensorBatches,
    check_sample,
    full_val_loss,
    quiet_lightning,
    seed_everything,
    split_tensors,
)
from schemas.artifacts import read_arrays, read_state
from schemas.config import TrainConfig
from schemas.layout import Layout
from schemas.tuning import Ticket, TrialRecord

SPLITS = ("train", "val")  # what a trial may read


def run_trial(tc: TrainConfig, layout: Layout, ticket: Ticket) -> TrialRecord:
    """Train `ticket`'s sampled spec under the training budget (seed train.seed, prunable; a
    confirmation run: the ticket's seed and fold, unpruned); its record."""
    quiet_lightning()
    torch.set_num_threads(tc.threads)
    seed = tc.seed if ticket.seed is None else ticket.seed
    seed_everything(seed)
    crash_point(f"trial:{ticket.model}")
    state, arrays = read_state(layout, ticket.fold), read_arrays(layout, ticket.fold, SPLITS)
    tensors = split_tensors(arrays, state.task, "train"), split_tensors(arrays, state.task, "val")
    batch = plan_batch(tc, len(arrays["y_train"]))
    budget = plan_budget(tc, batch, len(TensorBatches(tensors[0], batch, True)),
                         len(tensors[1][0]))
    spec = ticket.spec
    if state.task == "classify" and spec.stem is None:
        spec = spec.model_copy(update={"stem": auto_stem(int(arrays["len_train"].max()))})
    module = module_for(spec, state, tc.lr, tc.weight_decay)
    module.warmup_steps = budget.warmup_steps
    prune = PruneCallback(worker_trial(layout.study, ticket.model, ticket.trial_id,
                                       ticket.pruner, budget.min_steps)
                          ) if ticket.seed is None else None
    best = BestWeights()
    callbacks = _callbacks(budget, best)
    if prune is not None:
        callbacks.insert(-1, prune)  # before the best weights, like the other callbacks
    trainer = _trainer(budget, tc.accelerator, tc.grad_clip, callbacks)
    train = TensorBatches(tensors[0], budget.batch_size, True, seed)
    val = TensorBatches(tensors[1], 4 * budget.batch_size,
                        rows=check_sample(len(tensors[1][0]), budget.val_items))
    start = time.perf_counter()
    trainer.fit(module, train, val)
    seconds = time.perf_counter() - start
    record = TrialRecord(model=ticket.model, number=ticket.number, state="complete", spec=spec,
                         params=sum(p.numel() for p in module.parameters()),
                         steps=trainer.global_step, max_steps=budget.max_steps,
                         seconds=seconds, seed=ticket.seed, fold=ticket.fold)
    if best.state is None:
        return record.model_copy(update={"state": "failed", "note": "the validation loss "
                                          "was never finite (training diverged)"})
    loss = best.best if not budget.val_items else full_val_loss(
        module, best.state, tensors[1], 4 * budget.batch_size)
    pruned_at = prune.pruned_at if prune is not None else None
    return record.model_copy(update={
        "val_loss": loss, "state": "complete" if pruned_at is None else "pruned",
        "note": "" if pruned_at is None else f"pruned at step {pruned_at}"})
