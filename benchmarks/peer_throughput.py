"""LSTM training throughput on the forecasting demo: seqarena, a raw PyTorch loop, Darts and
NeuralForecast side by side, interleaved, one torch thread each.

    .venv-peers/bin/python benchmarks/peer_throughput.py [--steps N] [--repeats 3]

Every contender trains the demo's LSTM (params.yaml: hidden 64, 2 layers, dropout 0.1) on the
same training windows (lookback and horizon as seqarena's preprocess settles them), batch
32, for the same optimizer steps (default: seqarena's budget for the demo), validating every
`val_every` steps (seqarena's cadence) on the demo's validation windows. Reports windows and
steps per second (min and median over the repeats), and where the time goes: training
batches, validation checks, the rest (data loading, loop, callbacks). Needs the peers'
venv (benchmarks/requirements-peers.txt; Darts and NeuralForecast run in
benchmarks/peer_libraries.py); nothing is downloaded. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
from peer_libraries import ARCH, SEED, Demo, PhaseTimer, Result, run_darts, run_neuralforecast
from torch.optim.lr_scheduler import LinearLR, ReduceLROnPlateau

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import _callbacks, _trainer
from flows.stages.validate.stage import run as validate
from modules.budget import plan_batch, plan_budget
from modules.lit import WARMUP_START, module_for
from modules.memory import PeakMemory
from modules.training import (
    BestWeights,
    TensorBatches,
    check_sample,
    quiet_lightning,
    seed_everything,
    split_tensors,
)
from schemas.artifacts import read_arrays
from schemas.config import load_config
from schemas.layout import Layout


def with_steps(demo: Demo, steps: int | None, val_every: int | None) -> Demo:
    """The demo with `steps` optimizer steps and a check every `val_every` (None: the
    budget's), early stopping off (min_steps = max_steps)."""
    steps = steps or demo.budget.max_steps
    val_every = min(val_every or demo.budget.val_every, steps)
    return replace(demo, budget=replace(demo.budget, max_steps=steps, min_steps=steps,
                                        val_every=val_every))


def prepare() -> Demo:
    """Validate and preprocess the demo like seqarena; its budget; the peers' CSV frames."""
    out = Path(tempfile.mkdtemp(prefix="peer_throughput."))
    cfg = load_config(Path("params.yaml"), {"out_dir": str(out)})
    layout = Layout(out)
    validate(cfg, layout)
    state = preprocess(cfg, layout)
    arrays = read_arrays(layout)
    train, val = (split_tensors(arrays, "forecast", s) for s in ("train", "val"))
    batch = plan_batch(cfg.train, len(arrays["y_train"]))
    budget = plan_budget(cfg.train, batch, len(TensorBatches(train, batch, True)), len(val[0]))
    df = pd.read_csv(cfg.data.path, parse_dates=["ds"]).sort_values(["unique_id", "ds"])
    span = state.lookback + state.horizon - 1
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "val": [], "fit": []}
    for sid, rows in enumerate(g for _, g in df.groupby("unique_id", sort=True)):
        n_train = int((arrays["sid_train"] == sid).sum()) + span  # rows the windows cover
        n_val = int((arrays["sid_val"] == sid).sum()) + state.horizon - 1  # val targets
        parts["train"].append(rows.iloc[:n_train])
        parts["val"].append(rows.iloc[n_train - state.lookback:n_train + n_val])
        parts["fit"].append(rows.iloc[:n_train + n_val])  # NF: train rows, then val_size
    frames = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    return Demo(cfg, state, train, val, budget, frames, out)


def fresh_module(demo: Demo) -> pl.LightningModule:
    """seqarena's LSTM module for the demo, seeded, with the budget's warm-up."""
    seed_everything(SEED)
    module = module_for(demo.cfg.models[ARCH], demo.state, demo.cfg.train.lr,
                        demo.cfg.train.weight_decay)
    module.warmup_steps = demo.budget.warmup_steps
    return module


def run_seqarena(demo: Demo) -> Result:
    """seqarena's own fit (flows/stages/train/stage.py `_fit`: its callbacks, its Trainer,
    its batches, its peak-memory sampler), with a phase timer added."""
    module, budget, tc = fresh_module(demo), demo.budget, demo.cfg.train
    train = TensorBatches(demo.train, budget.batch_size, True, SEED)
    sample = check_sample(len(demo.val[0]), budget.val_items)
    val = TensorBatches(demo.val, 4 * budget.batch_size, rows=sample)
    timer, best = PhaseTimer(), BestWeights()
    callbacks = [timer, *_callbacks(budget, best, demo.out / "progress.json")]
    trainer = _trainer(budget, "cpu", tc.grad_clip, callbacks)
    with PeakMemory():
        start = time.perf_counter()
        trainer.fit(module, train, val)
        seconds = time.perf_counter() - start
    return Result(seconds, trainer.global_step, timer.windows,
                  len(best.history), timer.val_items, timer.batch_s, timer.val_s)


def run_raw(demo: Demo) -> Result:
    """The same module and batches in a plain loop: AdamW, the warm-up stepped per batch,
    gradient clipping, and every `val_every` steps the same validation check (loss over the
    same windows in batches of 4 x 32, the plateau schedule, the best weights kept)."""
    module, budget, tc = fresh_module(demo), demo.budget, demo.cfg.train
    train = TensorBatches(demo.train, budget.batch_size, True, SEED)
    sample = check_sample(len(demo.val[0]), budget.val_items)
    val = TensorBatches(demo.val, 4 * budget.batch_size, rows=sample)
    opt = torch.optim.AdamW(module.parameters(), lr=module.lr, weight_decay=module.weight_decay)
    warmup = LinearLR(opt, WARMUP_START, total_iters=budget.warmup_steps)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=budget.plateau_patience - 1,
                                threshold=budget.min_delta, threshold_mode="abs")
    best, kept, losses = float("inf"), None, []
    step = windows = checks = items = 0
    batch_s = val_s = 0.0
    start = time.perf_counter()
    module.train()
    while step < budget.max_steps:
        for batch in train:
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = module.loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), tc.grad_clip)
            opt.step()
            if step < budget.warmup_steps:
                warmup.step()
            losses.append(float(loss.detach()))
            step, windows = step + 1, windows + len(batch[-1])
            batch_s += time.perf_counter() - t0
            if step % budget.val_every == 0:
                t0 = time.perf_counter()
                module.eval()
                total, items = 0.0, 0
                with torch.no_grad():
                    for vb in val:
                        total += float(module.loss(vb)) * len(vb[-1])
                        items += len(vb[-1])
                score, losses = total / items, []
                plateau.step(score)
                if score < best:
                    best, kept = score, {k: v.detach().clone()
                                         for k, v in module.state_dict().items()}
                module.train()
                checks += 1
                val_s += time.perf_counter() - t0
            if step >= budget.max_steps:
                break
    seconds = time.perf_counter() - start
    assert kept is not None or checks == 0
    return Result(seconds, step, windows, checks, items, batch_s, val_s)


CONTENDERS: dict[str, Callable[[Demo], Result]] = {
    "seqarena": run_seqarena, "raw": run_raw, "darts": run_darts,
    "neuralforecast": run_neuralforecast}


def med(runs: list[Result], key: Callable[[Result], float]) -> float:
    """The median of `key` over the repeats."""
    return statistics.median(key(r) for r in runs)


def row(name: str, runs: list[Result]) -> str:
    """One table row: counts, fit seconds min/median, rates at the median, time split."""
    r, secs = runs[0], med(runs, lambda x: x.seconds)
    batches, checks = med(runs, lambda x: x.batch_s), med(runs, lambda x: x.val_s)
    rest = med(runs, lambda x: x.seconds - x.batch_s - x.val_s)
    return (f"| {name} | {r.steps} | {r.windows / r.steps:g} | {r.checks} | {r.val_items} | "
            f"{min(x.seconds for x in runs):.2f} / {secs:.2f} | {r.windows / secs:,.0f} | "
            f"{r.steps / secs:.1f} | {1000 * batches / r.steps:.2f} | "
            f"{1000 * checks / max(r.checks, 1):.1f} | {1000 * rest / r.steps:.2f} |")


def report(demo: Demo, runs: dict[str, list[Result]]) -> None:
    """The table, whether the counts match, the ratios against the goal, where time goes."""
    b = demo.budget
    print(f"\nLSTM {demo.cfg.models[ARCH]}; lookback {demo.state.lookback}, horizon "
          f"{demo.state.horizon}, {len(demo.train[0])} training windows, batch "
          f"{b.batch_size}, {b.max_steps} steps, a check every {b.val_every} steps; "
          f"{len(next(iter(runs.values())))} interleaved repeats; torch {torch.__version__}, "
          "1 thread\n")
    print("| contender | steps | windows/step | val checks | val items | fit s min / median "
          "| windows/s | steps/s | ms/step in batches | ms/check | ms/step rest |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        print(row(name, rs))
    first = {n: rs[0] for n, rs in runs.items()}
    for what in ("steps", "windows", "checks", "val_items"):
        values = {n: getattr(r, what) for n, r in first.items()}
        same = "the same for all" if len(set(values.values())) == 1 else "DIFFER"
        print(f"- {what}: {same} {values}")
    for name, r in first.items():
        print(*(f"- {name}: {note}" for note in r.notes), sep="\n", end="\n" * bool(r.notes))
    if "seqarena" not in runs:
        return
    seq = runs["seqarena"]
    for peer, goal in (("raw", 0.95), ("darts", 1.3), ("neuralforecast", None)):
        if peer not in runs:
            continue
        ratio = med(runs[peer], lambda x: x.seconds) / med(seq, lambda x: x.seconds)
        verdict = f" (goal >= {goal}: {'met' if ratio >= goal else 'NOT met'})" if goal else ""
        gaps = [med(seq, k) - med(runs[peer], k) for k in (
            lambda x: x.batch_s, lambda x: x.val_s,
            lambda x: x.seconds - x.batch_s - x.val_s)]
        print(f"- seqarena/{peer} throughput (medians): {ratio:.3f}x{verdict}; seqarena's "
              f"time minus {peer}'s: batches {gaps[0]:+.2f} s, checks {gaps[1]:+.2f} s, "
              f"rest {gaps[2]:+.2f} s")


def main() -> None:
    """Interleave the contenders over the repeats (after an untimed warm-up run each)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the budget's)")
    parser.add_argument("--val-every", type=int, help="steps between checks (default: "
                        "the budget's cadence for the demo)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup-steps", type=int, default=20, help="0: no warm-up run")
    parser.add_argument("--only", default=",".join(CONTENDERS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    names, full = args.only.split(","), prepare()
    if args.warmup_steps:
        warm = with_steps(full, args.warmup_steps, max(1, args.warmup_steps // 2))
        for name in names:
            CONTENDERS[name](warm)
    demo = with_steps(full, args.steps, args.val_every)
    runs: dict[str, list[Result]] = {n: [] for n in names}
    for i in range(args.repeats):  # interleaved, so drifting load hits every contender alike
        for name in names:
            runs[name].append(CONTENDERS[name](demo))
            print(f"repeat {i + 1} {name}: {runs[name][-1].seconds:.2f} s (torch threads "
                  f"after it: {torch.get_num_threads()})", flush=True)
            torch.set_num_threads(1)
    report(demo, runs)
    shutil.rmtree(full.out, ignore_errors=True)


if __name__ == "__main__":
    main()
