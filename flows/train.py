"""Stage `train`: fit one model on the training split, keep its best validation weights."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from safetensors.torch import save_file

from flows.procs import crash_point
from modules.budget import Budget, plan_budget
from modules.lit import build_module
from modules.training import (
    BestWeights,
    PlateauLR,
    TensorBatches,
    quiet_lightning,
    seed_everything,
    split_tensors,
)
from schemas.artifacts import ModelCard, read_arrays, read_state, write
from schemas.config import Config
from schemas.errors import RunFailedError
from schemas.files import atomic_write
from schemas.layout import Layout

WARMUP_SHARE = 20  # the first 1/20 of the step budget warms the learning rate up


def _trainer(budget: Budget, accelerator: str, grad_clip: float,
             best: BestWeights) -> pl.Trainer:
    """A Lightning trainer that counts steps, validates every `val_every` steps across
    passes, and stops early only after `min_steps`."""
    stop = EarlyStopping("val_loss", patience=budget.patience, min_delta=budget.min_delta,
                         check_on_train_epoch_end=False)
    time_cap = {"minutes": budget.max_minutes} if budget.max_minutes else None
    schedule = [PlateauLR(budget.plateau_patience, min_delta=budget.min_delta)] \
        if budget.schedule == "plateau" else []
    return pl.Trainer(
        max_steps=budget.max_steps, min_steps=budget.min_steps, max_epochs=-1,
        max_time=time_cap, val_check_interval=budget.val_every,
        check_val_every_n_epoch=None, accelerator=accelerator, devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, gradient_clip_val=grad_clip or None,
        callbacks=[stop, *schedule, best])


def _stopped(trainer: pl.Trainer, budget: Budget) -> str:
    """Why training ended: early stopping, the step budget or the time cap."""
    if trainer.global_step >= budget.max_steps:
        return "max_steps"
    return "early_stopping" if trainer.should_stop else "max_minutes"


def train_model(cfg: Config, name: str) -> dict[str, Any]:
    """Train the model `name` of cfg.models; write models/NAME/{weights.safetensors,model.json}."""
    quiet_lightning()
    tc, spec = cfg.train, cfg.models[name]
    torch.set_num_threads(tc.threads)
    seed_everything(tc.seed)
    crash_point(f"train:{name}")
    layout = Layout(Path(cfg.out_dir))
    state, arrays = read_state(layout), read_arrays(layout)
    task, n_train = state.task, len(arrays["y_train"])
    budget = plan_budget(tc, n_train)
    n_out = arrays["y_train"].shape[1] if task == "forecast" else len(state.classes)
    n_features = arrays.n_features
    module = build_module(task, spec, n_features, n_out, tc.lr, tc.weight_decay)
    module.warmup_steps = budget.max_steps // WARMUP_SHARE if tc.schedule == "plateau" else 0
    train = TensorBatches(split_tensors(arrays, task, "train"), budget.batch_size, True, tc.seed)
    val = TensorBatches(split_tensors(arrays, task, "val"), 4 * budget.batch_size)
    best = BestWeights()
    trainer = _trainer(budget, tc.accelerator, tc.grad_clip, best)
    start = time.perf_counter()
    trainer.fit(module, train, val)
    seconds = time.perf_counter() - start
    if best.state is None:
        raise RunFailedError(f"model '{name}': the validation loss was never finite "
                             "(training diverged); try a lower train.lr.")
    weights = {k: v.contiguous().cpu() for k, v in best.state.items()}
    atomic_write(layout.weights(name), lambda p: save_file(weights, str(p)))
    steps = trainer.global_step
    card = ModelCard(
        name=name, task=task, spec=spec, n_features=n_features, n_out=int(n_out),
        params=sum(p.numel() for p in module.parameters()), train_seconds=seconds,
        steps=steps, ms_per_step=1000 * seconds / max(steps, 1), best_step=best.best_step,
        best_val_loss=best.best, val_improved=best.learned, stopped=_stopped(trainer, budget),
        budget=asdict(budget), seed=tc.seed, threads=tc.threads, history=best.history)
    write(layout.card(name), card)
    return card.model_dump(mode="json")
