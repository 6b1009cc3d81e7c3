"""The records every contender of peer_throughput.py fills, and its two library contenders:
Darts' BlockRNNModel (LSTM) and NeuralForecast's LSTM, trained on the demo's CSV rows with
seqarena's steps, batch, validation cadence and gradient clipping."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl

from modules.budget import Budget
from schemas.config import Config
from schemas.prepared import ForecastState

ARCH = "lstm"
SEED = 0


@dataclass
class Demo:
    """The demo as seqarena prepares it, and the frames the peers read."""

    cfg: Config
    state: ForecastState
    train: tuple
    val: tuple
    budget: Budget  # steps and cadence of this benchmark (min_steps = max_steps: no stop)
    frames: dict[str, pd.DataFrame]  # CSV rows of each series: train, val (with lookback), fit
    out: Path


@dataclass
class Result:
    """One training: wall seconds and where they went, steps, windows, validation checks."""

    seconds: float
    steps: int
    windows: int
    checks: int
    val_items: int
    batch_s: float = 0.0
    val_s: float = 0.0
    notes: list[str] = field(default_factory=list)


class PhaseTimer(pl.Callback):
    """Seconds inside training batches and inside validation checks; counts both."""

    def __init__(self) -> None:
        self.batch_s = self.val_s = 0.0
        self.batches = self.windows = self.checks = self.val_items = 0
        self.t0 = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, batch: Any,
                             *_: Any) -> None:
        self.windows += batch_len(batch)
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, *_: Any) -> None:
        self.batch_s += time.perf_counter() - self.t0
        self.batches += 1

    def on_validation_start(self, trainer: pl.Trainer, *_: Any) -> None:
        self.t0 = time.perf_counter()
        self.val_items = 0

    def on_validation_batch_start(self, trainer: pl.Trainer, module: Any, batch: Any,
                                  *_: Any) -> None:
        self.val_items += batch_len(batch)

    def on_validation_end(self, trainer: pl.Trainer, *_: Any) -> None:
        if not trainer.sanity_checking:
            self.val_s += time.perf_counter() - self.t0
            self.checks += 1


def batch_len(batch: Any) -> int:
    """Items in a batch: a tuple's first tensor, Darts' past target, NF's series."""
    if hasattr(batch, "past_target"):
        return len(batch.past_target)
    first = next(iter(batch.values())) if isinstance(batch, dict) else batch[0]
    return len(first) if hasattr(first, "__len__") else 0


def lightning_kwargs(demo: Demo, timer: PhaseTimer) -> dict[str, Any]:
    """Trainer settings the peers get: seqarena's steps, cadence, clipping, quiet, on CPU."""
    b = demo.budget
    return {"accelerator": "cpu", "devices": 1, "max_steps": b.max_steps,
            "val_check_interval": b.val_every, "check_val_every_n_epoch": None,
            "gradient_clip_val": demo.cfg.train.grad_clip, "num_sanity_val_steps": 0,
            "enable_progress_bar": False, "enable_model_summary": False,
            "enable_checkpointing": False, "logger": False, "callbacks": [timer]}


def run_darts(demo: Demo) -> Result:
    """Darts' BlockRNNModel (LSTM) on the same series, covariates as past covariates."""
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    def series(frame: pd.DataFrame, cols: list[str]) -> list[TimeSeries]:
        return [s.astype(np.float32) for s in TimeSeries.from_group_dataframe(
            frame, group_cols="unique_id", time_col="ds", value_cols=cols)]

    spec, b, timer = demo.cfg.models[ARCH], demo.budget, PhaseTimer()
    model = BlockRNNModel(
        model="LSTM", input_chunk_length=demo.state.lookback,
        output_chunk_length=demo.state.horizon, hidden_dim=spec.hidden,
        n_rnn_layers=spec.layers, dropout=spec.dropout, batch_size=b.batch_size,
        n_epochs=10**6, optimizer_kwargs={"lr": demo.cfg.train.lr},
        use_reversible_instance_norm=True, use_static_covariates=False, random_state=SEED,
        pl_trainer_kwargs=lightning_kwargs(demo, timer))
    cov = ["promo", "temperature"]
    tr, va = demo.frames["train"], demo.frames["val"]
    start = time.perf_counter()
    model.fit(series(tr, ["y"]), past_covariates=series(tr, cov), val_series=series(va, ["y"]),
              val_past_covariates=series(va, cov), verbose=False)
    seconds = time.perf_counter() - start
    return Result(seconds, timer.batches, timer.windows, timer.checks,
                  timer.val_items, timer.batch_s, timer.val_s,
                  ["Adam, Darts' default, without seqarena's warm-up and plateau schedule",
                   f"validates in batches of {b.batch_size} (Darts has no validation batch "
                   "size of its own); RevIN on the target, covariates as past covariates"])


def run_neuralforecast(demo: Demo) -> Result:
    """NeuralForecast's LSTM: every series in each batch, 32 windows sampled per step."""
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import LSTM

    spec, b, timer = demo.cfg.models[ARCH], demo.budget, PhaseTimer()
    n_series, h = len(demo.state.series), demo.state.horizon
    kwargs = lightning_kwargs(demo, timer)
    model = LSTM(
        h=h, input_size=demo.state.lookback, encoder_n_layers=spec.layers,
        encoder_hidden_size=spec.hidden, encoder_dropout=spec.dropout, decoder_layers=1,
        hist_exog_list=["promo", "temperature"], loss=MSE(), max_steps=kwargs.pop("max_steps"),
        learning_rate=demo.cfg.train.lr, val_check_steps=kwargs.pop("val_check_interval"),
        early_stop_patience_steps=-1, batch_size=n_series, valid_batch_size=n_series,
        windows_batch_size=b.batch_size, inference_windows_batch_size=4 * b.batch_size,
        scaler_type="standard", random_seed=SEED,
        **{k: v for k, v in kwargs.items() if k != "check_val_every_n_epoch"})
    val_size = (len(demo.frames["fit"]) - len(demo.frames["train"])) // n_series
    nf = NeuralForecast(models=[model], freq="D")
    start = time.perf_counter()
    nf.fit(demo.frames["fit"], val_size=val_size)
    seconds = time.perf_counter() - start
    timer = next(c for c in nf.models[0].trainer_kwargs["callbacks"]  # NF fits a copy
                 if isinstance(c, PhaseTimer))
    val_items = n_series * (val_size - h + 1) if timer.checks else 0  # NF's val windows
    return Result(seconds, timer.batches, timer.batches * b.batch_size, timer.checks,
                  val_items, timer.batch_s, timer.val_s,
                  ["Adam, NF's default, without seqarena's warm-up and plateau schedule",
                   f"each batch holds all {n_series} series and samples {b.batch_size} windows "
                   "from them (windows = steps x that); val items by NF's rule (series x "
                   "(val_size - h + 1)); per-window standard scaling; a linear decoder"])
