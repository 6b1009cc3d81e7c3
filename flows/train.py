"""Stage `train`: fit one model on the training split, keep its best validation weights."""

from __future__ import annotations

import logging
import math
import random
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from safetensors.torch import save_file

from flows.io import atomic_write, read_json, write_json
from flows.layout import Layout
from flows.preprocess import load_arrays
from flows.procs import crash_point
from modules.batching import (
    Ragged,
    bucket_batches,
    count_bucket_batches,
    sorted_batches,
    take,
)
from modules.lit import build_module
from modules.model_files import load_model as load_model  # re-exported: the old import path
from schemas.config import Config
from schemas.errors import RunFailedError


def quiet_lightning() -> None:
    """Silence Lightning's start-up banners and hints; real warnings about our code stay."""
    for name in ("pytorch_lightning", "lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (process-global, hence one model per process at a time)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TensorBatches:
    """Mini-batches of a split's tensors; with `shuffle`, a seeded reshuffle on every pass.
    Classification sequences (a Ragged) come in length buckets when shuffled and sorted by
    length otherwise, each batch padded only to its own longest sequence."""

    def __init__(self, tensors: tuple, batch_size: int, shuffle: bool = False,
                 seed: int = 0) -> None:
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        first = self.tensors[0]
        if isinstance(first, Ragged):
            return (count_bucket_batches(first.lengths, self.batch_size) if self.shuffle
                    else len(sorted_batches(first.lengths, self.batch_size)))
        return math.ceil(len(first) / self.batch_size)

    def _batches(self) -> list[torch.Tensor]:
        first, n = self.tensors[0], len(self.tensors[0])
        if isinstance(first, Ragged):
            return (bucket_batches(first.lengths, self.batch_size, self.generator)
                    if self.shuffle else sorted_batches(first.lengths, self.batch_size))
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        return list(order.split(self.batch_size))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for idx in self._batches():
            yield take(self.tensors, idx)


def split_tensors(arrays: dict[str, np.ndarray], task: str, split: str) -> tuple:
    """Model inputs then targets: (x, y) to forecast; (sequences, y) to classify, where
    sequences is a Ragged of the split's rows and lengths."""
    y = torch.from_numpy(arrays[f"y_{split}"])
    if task == "forecast":
        return torch.from_numpy(arrays[f"x_{split}"]), y
    return Ragged.from_numpy(arrays[f"x_{split}"], arrays[f"len_{split}"]), y


class BestWeights(pl.Callback):
    """Keeps the weights of the epoch with the lowest validation loss, and the learning curve."""

    def __init__(self) -> None:
        self.best, self.best_epoch = math.inf, -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        val = float(metrics.get("val_loss", math.nan))
        self.history.append({"epoch": trainer.current_epoch, "val_loss": val,
                             "train_loss": float(metrics.get("train_loss", math.nan))})
        if val < self.best:
            self.best, self.best_epoch = val, trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_model(cfg: Config, name: str) -> dict[str, Any]:
    """Train the model `name` of cfg.models; write models/NAME/{weights.safetensors,model.json}."""
    quiet_lightning()
    tc, spec = cfg.train, cfg.models[name]
    torch.set_num_threads(tc.threads)
    seed_everything(tc.seed)
    crash_point(f"train:{name}")
    layout = Layout(Path(cfg.out_dir))
    state, arrays = read_json(layout.state), load_arrays(layout)
    task = state["task"]
    n_out = arrays["y_train"].shape[1] if task == "forecast" else len(state["classes"])
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
    out = layout.model_dir(name)
    weights = {k: v.contiguous().cpu() for k, v in best.state.items()}
    atomic_write(out / "weights.safetensors", lambda p: save_file(weights, str(p)))
    meta = {"name": name, "task": task, "spec": spec.model_dump(), "n_features":
            int(arrays["x_train"].shape[-1]), "n_out": int(n_out),
            "params": sum(p.numel() for p in module.parameters()),
            "train_seconds": seconds, "epochs": len(best.history),
            "seconds_per_epoch": seconds / max(len(best.history), 1),
            "best_epoch": best.best_epoch, "best_val_loss": best.best, "seed": tc.seed,
            "threads": tc.threads, "history": best.history}
    write_json(out / "model.json", meta)
    return meta
