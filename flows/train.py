"""Stage `train`: fit one model on the training split, keep its best validation weights."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from safetensors.torch import save_file

from flows.procs import crash_point
from modules.lit import build_module
from modules.training import (
    BestWeights,
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


def train_model(cfg: Config, name: str) -> dict[str, Any]:
    """Train the model `name` of cfg.models; write models/NAME/{weights.safetensors,model.json}."""
    quiet_lightning()
    tc, spec = cfg.train, cfg.models[name]
    torch.set_num_threads(tc.threads)
    seed_everything(tc.seed)
    crash_point(f"train:{name}")
    layout = Layout(Path(cfg.out_dir))
    state, arrays = read_state(layout), read_arrays(layout)
    task = state.task
    n_out = arrays["y_train"].shape[1] if task == "forecast" else len(state.classes)
    module = build_module(task, spec, arrays["x_train"].shape[-1], n_out, tc.lr, tc.weight_decay)
    train = TensorBatches(split_tensors(arrays, task, "train"), tc.batch_size, True, tc.seed)
    val = TensorBatches(split_tensors(arrays, task, "val"), 4 * tc.batch_size)
    best = BestWeights()
    trainer = pl.Trainer(
        max_epochs=tc.max_epochs, accelerator=tc.accelerator, devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, gradient_clip_val=tc.grad_clip or None,
        callbacks=[EarlyStopping("val_loss", patience=tc.patience), best])
    start = time.perf_counter()
    trainer.fit(module, train, val)
    seconds = time.perf_counter() - start
    if best.state is None:
        raise RunFailedError(f"model '{name}': the validation loss was never finite "
                             "(training diverged); try a lower train.lr.")
    weights = {k: v.contiguous().cpu() for k, v in best.state.items()}
    atomic_write(layout.weights(name), lambda p: save_file(weights, str(p)))
    card = ModelCard(
        name=name, task=task, spec=spec, n_features=int(arrays["x_train"].shape[-1]),
        n_out=int(n_out), params=sum(p.numel() for p in module.parameters()),
        train_seconds=seconds, epochs=len(best.history),
        seconds_per_epoch=seconds / max(len(best.history), 1), best_epoch=best.best_epoch,
        best_val_loss=best.best, seed=tc.seed, threads=tc.threads, history=best.history)
    write(layout.card(name), card)
    return card.model_dump(mode="json")
