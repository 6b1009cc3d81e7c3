"""Stage `train`: fit one model on the training split, keep its best validation weights."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from safetensors.torch import save_file

from flows.runtime.procs import crash_point
from modules.budget import Budget, plan_batch, plan_budget
from modules.conformal import write_residuals
from modules.lit import auto_stem, module_for
from modules.memory import PeakMemory
from modules.training import (
    BestWeights,
    PlateauLR,
    ProgressFile,
    StepStopping,
    TensorBatches,
    TimeCap,
    check_sample,
    full_val_loss,
    no_gpu_for,
    quiet_lightning,
    seed_everything,
    split_tensors,
    val_residuals,
)
from schemas.artifacts import ModelCard, read_arrays, read_state, write
from schemas.config import Config, ForecastConfig, TrainConfig
from schemas.errors import RunFailedError, UsageError
from schemas.files import atomic_write
from schemas.layout import Job, Layout
from schemas.specs import ModelSpec


def _callbacks(budget: Budget, best: BestWeights, progress: Path | None = None
               ) -> list[pl.Callback]:
    """Early stopping from min_steps on, the optional time cap, the learning-rate schedule,
    the progress file (if given), and the best weights (last, so it sees each check's
    metrics as the others do)."""
    out: list[pl.Callback] = [StepStopping(budget.min_steps, budget.patience, budget.min_delta)]
    if progress is not None:
        out.append(ProgressFile(progress, budget.max_steps))
    if budget.max_minutes:
        out.append(TimeCap(budget.max_minutes))
    if budget.schedule == "plateau":
        out.append(PlateauLR(budget.plateau_patience, min_delta=budget.min_delta))
    return [*out, best]


def _trainer(budget: Budget, accelerator: str, grad_clip: float,
             callbacks: list[pl.Callback]) -> pl.Trainer:
    """A Lightning trainer that counts steps and validates every `val_every` steps across
    passes (min_steps and the time cap are the callbacks' business)."""
    return pl.Trainer(
        max_steps=budget.max_steps, max_epochs=-1, val_check_interval=budget.val_every,
        check_val_every_n_epoch=None, accelerator=accelerator, devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, gradient_clip_val=grad_clip or None, callbacks=callbacks)


def _device(trainer: pl.Trainer) -> str:
    """The device the trainer used: cpu, or cuda:K with the GPU's name."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _stopped(trainer: pl.Trainer, budget: Budget, callbacks: list[pl.Callback]) -> str:
    """Why training ended: the time cap, the step budget or early stopping."""
    if any(isinstance(c, TimeCap) and c.hit for c in callbacks):
        return "max_minutes"
    return "max_steps" if trainer.global_step >= budget.max_steps else "early_stopping"


def _fit(module: pl.LightningModule, tensors: tuple[tuple, tuple], budget: Budget,
         tc: TrainConfig, seed: int, progress: Path
         ) -> tuple[pl.Trainer, BestWeights, list[pl.Callback], float, PeakMemory]:
    """Train under the budget; the trainer, the best weights, the callbacks, the seconds and
    the peak memory."""
    train = TensorBatches(tensors[0], budget.batch_size, True, seed)
    sample = check_sample(len(tensors[1][0]), budget.val_items)
    val = TensorBatches(tensors[1], 4 * budget.batch_size, rows=sample)
    best = BestWeights()
    callbacks = _callbacks(budget, best, progress)
    trainer = _trainer(budget, tc.accelerator, tc.grad_clip, callbacks)
    with PeakMemory() as memory:
        start = time.perf_counter()
        trainer.fit(module, train, val)
        seconds = time.perf_counter() - start
    return trainer, best, callbacks, seconds, memory


def train_model(spec: ModelSpec, tc: TrainConfig, layout: Layout, job: Job,
                levels: list[float] | None = None) -> dict[str, Any]:
    """Train one job (model `spec`, seed, fold); write
    models/NAME/fold-K/seed-S/{weights,model.json} below `layout`, and for a forecaster its
    validation residuals (val_residuals.npz), which evaluate calibrates intervals on, unless
    `levels` is [] (None: forecast.intervals' default)."""
    quiet_lightning()
    name = job.name
    if problem := no_gpu_for(tc.accelerator):  # checked where it trains: a Dask worker, say
        raise UsageError(problem)
    torch.set_num_threads(tc.threads)
    seed_everything(job.seed)
    crash_point(f"train:{name}")
    state, arrays = read_state(layout, job.fold), read_arrays(layout, job.fold)
    task = state.task
    tensors = split_tensors(arrays, task, "train"), split_tensors(arrays, task, "val")
    batch = plan_batch(tc, len(arrays["y_train"]))
    budget = plan_budget(tc, batch, len(TensorBatches(tensors[0], batch, True)),
                         len(tensors[1][0]))
    if task == "classify" and spec.stem is None:  # the card records the stride used
        spec = spec.model_copy(update={"stem": auto_stem(int(arrays["len_train"].max()))})
    module = module_for(spec, state, tc.lr, tc.weight_decay)
    module.warmup_steps = budget.warmup_steps
    try:
        trainer, best, callbacks, seconds, memory = _fit(module, tensors, budget, tc, job.seed,
                                                         layout.progress(job))
    finally:
        layout.progress(job).unlink(missing_ok=True)
    if best.state is None:
        raise RunFailedError(f"model '{name}' (seed {job.seed}, fold {job.fold}): the validation "
                             "loss was never finite (training diverged); try a lower train.lr.")
    weights = {k: v.contiguous().cpu() for k, v in best.state.items()}
    if budget.val_items:  # the checks saw a sample: the kept weights' loss on all of it
        best.best = full_val_loss(module, weights, tensors[1], 4 * budget.batch_size)
    levels = ForecastConfig().intervals if levels is None else levels
    if task == "forecast" and levels:
        write_residuals(layout.residuals(job), val_residuals(module, weights, tensors[1],
                                                             4 * budget.batch_size),
                        arrays["sid_val"])
    atomic_write(layout.weights(job), lambda p: save_file(weights, str(p)))
    steps = trainer.global_step
    card = ModelCard(
        name=name, task=task, spec=spec,
        params=sum(p.numel() for p in module.parameters()), train_seconds=seconds,
        steps=steps, ms_per_step=1000 * seconds / max(steps, 1), best_step=best.best_step,
        best_val_loss=best.best, val_improved=best.learned,
        stopped=_stopped(trainer, budget, callbacks), budget=asdict(budget), seed=job.seed,
        fold=job.fold, threads=tc.threads, device=_device(trainer), peak_rss_mib=memory.rss_mib,
        rss_growth_mib=memory.growth_mib,
        peak_torch_mib=memory.torch_mib, history=best.history)
    write(layout.card(job), card)
    return card.model_dump(mode="json")


def run(cfg: Config, layout: Layout, name: str) -> list[dict[str, Any]]:
    """Every training of model `name`, one after another (`seqarena stage train`)."""
    jobs = cfg.train.jobs([name], read_state(layout).folds)
    return [train_model(cfg.models[name], cfg.train, layout, job, cfg.forecast.intervals)
            for job in jobs]
