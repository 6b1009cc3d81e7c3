"""Training machinery every stage shares: seeding, quiet Lightning, mini-batches cut from the
prepared tensors, and the callback that keeps the best validation weights."""

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
from torch.optim.lr_scheduler import ReduceLROnPlateau

from modules.batching import (
    Ragged,
    Windows,
    bucket_batches,
    count_bucket_batches,
    sorted_batches,
    subset,
    take,
)
from modules.inference import predict
from schemas.artifacts import PreparedArrays
from schemas.files import write_text
from schemas.progress import Progress


def no_gpu_for(accelerator: str) -> str | None:
    """Why train.accelerator cannot run here (gpu asked, torch sees none), else None."""
    if accelerator == "gpu" and not (torch.cuda.is_available()
                                     or torch.backends.mps.is_available()):
        return ("train.accelerator is gpu but torch on this machine sees no GPU (a CPU build of "
                "torch, or no driver): set train.accelerator: auto (a GPU when present) or cpu")
    return None


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
                 seed: int = 0, rows: torch.Tensor | None = None) -> None:
        if rows is not None:  # only these rows of the split (a validation sample)
            tensors = subset(tensors, rows)
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


def check_sample(n: int, items: int | None, seed: int = 0) -> torch.Tensor | None:
    """The validation items every check scores: a seeded sample of `items` of `n`, in
    order, the same for every model and seed (None: all of them)."""
    if items is None or items >= n:
        return None
    drawn = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:items]
    return torch.sort(drawn).values


def full_val_loss(module: pl.LightningModule, weights: dict[str, torch.Tensor], val: tuple,
                  batch_size: int) -> float:
    """The mean loss of `weights` over every item of the validation split, on the CPU."""
    module.load_state_dict(weights)
    module.cpu().eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in TensorBatches(val, batch_size):
            total += float(module.loss(batch)) * len(batch[-1])
            count += len(batch[-1])
    return total / count


def val_residuals(module: pl.LightningModule, weights: dict[str, torch.Tensor], val: tuple,
                  batch_size: int) -> np.ndarray:
    """(N, H) y - ŷ of `weights` over every validation window, in scaled units, on the CPU."""
    module.load_state_dict(weights)
    module.cpu().eval()
    return val[-1].numpy() - predict(module, val[:-1], batch_size)  # type: ignore[arg-type]


def split_tensors(arrays: PreparedArrays, task: str, split: str) -> tuple:
    """Model inputs then targets: (windows, y) to forecast, windows cut by index from the
    series rows; (sequences, y) to classify, sequences a Ragged of the split's rows."""
    y = torch.from_numpy(arrays[f"y_{split}"])
    if task == "forecast":
        if not arrays.lookback:
            raise ValueError("forecast arrays need their state's lookback (read_arrays)")
        return Windows.from_numpy(arrays["series"], arrays[f"start_{split}"], arrays.lookback), y
    return Ragged.from_numpy(arrays[f"x_{split}"], arrays[f"len_{split}"]), y


class BestWeights(pl.Callback):
    """Keeps the weights of the validation check with the lowest loss, and the learning curve
    (one point per check: the step, the validation loss, the mean training loss since the last
    check)."""

    def __init__(self) -> None:
        self.best, self.best_step = math.inf, -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        val = float(trainer.callback_metrics.get("val_loss", math.nan))
        step = trainer.global_step
        train = float(np.mean(self.losses)) if self.losses else math.nan
        self.history.append({"step": step, "val_loss": val, "train_loss": train})
        self.losses = []
        if val < self.best:
            self.best, self.best_step = val, step
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @property
    def learned(self) -> bool:
        """Whether validation ever improved on its first check."""
        return len(self.history) > 1 and self.best_step != self.history[0]["step"]


class PlateauLR(pl.Callback):
    """Halves the learning rate once `patience` validation checks in a row bring no
    improvement (torch's ReduceLROnPlateau, stepped at each check, however far apart)."""

    def __init__(self, patience: int, factor: float = 0.5, min_delta: float = 0.0) -> None:
        self.patience, self.factor, self.min_delta = patience, factor, min_delta
        self.scheduler: ReduceLROnPlateau | None = None

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # torch reduces when the stalled checks exceed its patience, hence the - 1
        self.scheduler = ReduceLROnPlateau(trainer.optimizers[0], factor=self.factor,
                                           patience=self.patience - 1,
                                           threshold=self.min_delta, threshold_mode="abs")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        val = trainer.callback_metrics.get("val_loss")
        if self.scheduler is not None and not trainer.sanity_checking and val is not None:
            self.scheduler.step(float(val))


class StepStopping(EarlyStopping):
    """Early stopping that starts counting at `min_steps`: before it, validation checks are
    not judged at all, so neither patience nor a stop can carry over from them."""

    def __init__(self, min_steps: int, patience: int, min_delta: float) -> None:
        super().__init__("val_loss", patience=patience, min_delta=min_delta,
                         check_on_train_epoch_end=False)
        self.min_steps = min_steps

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.global_step >= self.min_steps:
            super().on_validation_end(trainer, module)


class TimeCap(pl.Callback):
    """Stops training once `minutes` of wall time have passed, whatever the step."""

    def __init__(self, minutes: float) -> None:
        self.seconds, self.start, self.hit = 60 * minutes, 0.0, False

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, *_: Any) -> None:
        if time.perf_counter() - self.start >= self.seconds:
            self.hit = trainer.should_stop = True


class ProgressFile(pl.Callback):
    """Writes the training's Progress to `path` at most every `every` seconds and after each
    validation check, so the process showing the run can draw it."""

    def __init__(self, path: Path, max_steps: int, every: float = 1.0) -> None:
        self.path, self.max_steps, self.every = path, max_steps, every
        self.start = self.last = 0.0
        self.val_loss: float | None = None
        self.best: tuple[float, int] | None = None

    def _write(self, trainer: pl.Trainer) -> None:
        self.last = time.perf_counter()
        progress = Progress(step=trainer.global_step, max_steps=self.max_steps,
                            seconds=self.last - self.start, val_loss=self.val_loss,
                            best_step=self.best[1] if self.best else None)
        write_text(self.path, progress.model_dump_json())

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()
        self._write(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, *_: Any) -> None:
        if time.perf_counter() - self.last >= self.every:
            self._write(trainer)

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        val = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or val is None or not math.isfinite(float(val)):
            return
        self.val_loss = float(val)
        if self.best is None or self.val_loss < self.best[0]:
            self.best = (self.val_loss, trainer.global_step)
        self._write(trainer)
