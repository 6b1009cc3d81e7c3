"""Seconds per epoch on the forecasting demo: Lightning vs a raw PyTorch loop, 1 vs 2 threads.

    python benchmarks/train_speed.py [--epochs 4] [--archs rnn,lstm,gru,transformer]

Reports the median epoch time after a warm-up epoch, for a raw loop and for pl.Trainer
over the same module and the same pre-built batches.

Run it alone on the machine (it measures wall time). Needs `dvc pull` for the demo data.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from modules.lit import module_for
from modules.training import TensorBatches, quiet_lightning, split_tensors
from schemas.artifacts import read_arrays
from schemas.config import load_config
from schemas.layout import Layout


def raw_epochs(module, batches, epochs: int) -> float:
    """Plain loop: forward, loss, backward, clip, step, with the module's optimizer and
    one-cycle schedule stepped every batch (as Lightning runs them)."""
    opt = torch.optim.AdamW(module.parameters(), lr=module.lr, weight_decay=module.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, module.lr, total_steps=epochs * len(batches))
    module.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch in batches:
            opt.zero_grad(set_to_none=True)
            loss = module.loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            sched.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first epoch warms up


class EpochTimer(pl.Callback):
    """Wall time of each training epoch inside the Trainer."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, *_: object) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, *_: object) -> None:
        self.times.append(time.perf_counter() - self.start)


def lightning_epochs(module, batches, epochs: int) -> float:
    """The same work through pl.Trainer with seqarena's settings (no validation)."""
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         gradient_clip_val=1.0, limit_val_batches=0, callbacks=[timer])
    trainer.fit(module, batches)
    return statistics.median(timer.times[1:])  # the first epoch warms up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4, help="timed: all but the first")
    parser.add_argument("--archs", default="rnn,lstm,gru,hybrid,transformer")
    parser.add_argument("--threads", default="1", help="comma-separated, e.g. 1,2")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved raw/Lightning runs")
    args = parser.parse_args()
    quiet_lightning()
    out = Path(tempfile.mkdtemp())
    cfg = load_config(Path("params.yaml"), {"out_dir": str(out)})
    layout = Layout(out)
    validate(cfg, layout)
    state = preprocess(cfg, layout)
    arrays = read_arrays(layout)
    batches = TensorBatches(split_tensors(arrays, "forecast", "train"), cfg.train.batch_size,
                            shuffle=True)
    print(f"{'arch':12} {'threads':>7} {'raw s/ep min/med':>17} {'lightning min/med':>18} "
          f"{'overhead (medians)':>19}")
    for arch in args.archs.split(","):
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            times: dict[str, list[float]] = {"raw": [], "lightning": []}
            for _ in range(args.repeats):  # interleaved, so drifting load hits both alike
                for name, run in (("raw", raw_epochs), ("lightning", lightning_epochs)):
                    torch.manual_seed(0)
                    module = module_for(cfg.models[arch], state, cfg.train.lr)
                    times[name].append(run(module, batches, args.epochs))
            raw, lit = (statistics.median(times[k]) for k in ("raw", "lightning"))
            print(f"{arch:12} {threads:>7} {min(times['raw']):>8.3f}/{raw:<8.3f} "
                  f"{min(times['lightning']):>9.3f}/{lit:<8.3f} {lit / raw - 1:>+19.1%}")

if __name__ == "__main__":
    main()
