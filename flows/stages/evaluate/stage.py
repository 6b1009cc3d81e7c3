"""Stage `evaluate`: score every run (model x fold x seed) and every baseline on its fold's
test split, once; aggregate over seeds and folds; then measure each model's cost alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
import torch

from flows.evidence.aggregate import Scored, aggregate, error_frame, paired_errors, run_errors
from flows.evidence.bootstrap import Bootstrap
from flows.evidence.scoring import (
    classify_metrics,
    forecast_metrics,
    horizon_errors,
    length_errors,
    window_errors,
)
from flows.runtime.procs import cores
from flows.stages.evaluate.baselines import yardsticks
from flows.stages.evaluate.champion import CHAMPION, challenge
from flows.stages.evaluate.diagnostics import diagnose, item_errors, non_overlapping, window_blocks
from flows.stages.evaluate.forecast_sample import ForecastSample, no_sample
from flows.stages.evaluate.intervals import Intervals
from flows.stages.evaluate.measured import equal_width, measured_table
from modules.arrays import Scaler
from modules.conformal import coverages, level_name
from modules.cost import latency, onnx_cost
from modules.inference import predict
from modules.model_files import load_model
from modules.training import quiet_lightning, split_tensors
from schemas.artifacts import (
    METRICS,
    NAIVE,
    Metrics,
    ModelCard,
    PreparedArrays,
    Row,
    read,
    read_arrays,
    read_state,
    write,
)
from schemas.config import Config, EvaluateConfig, ForecastConfig, TrainConfig
from schemas.files import atomic_write
from schemas.layout import Job, Layout
from schemas.prepared import ClassifyState, ForecastState, State
from schemas.stages import leaderboard_schema

LARGE_BATCH = 256  # the throughput batch (or the whole test split, if smaller)
# a call at batch 256 takes 20-200 ms on the demos, so 30 calls cost up to 6 s a model; three
# repeats each on the forecast demo gave p50 21.6-23.2 ms with 10 calls and 21.9-22.5 with 30
# (lstm), 29.4-31.1 and 30.5-32.2 (gru)
BATCH_REPS, BATCH_WARMUP = 10, 2


def _in_units(state: ForecastState, arrays: PreparedArrays, out: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test targets and forecasts in the user's units, and each window's MASE scale."""
    scaler, sid = Scaler(state), arrays["sid_test"]
    scale = np.array(state.mase_scale)[sid]
    return scaler.inverse(arrays["y_test"], sid), scaler.inverse(out, sid), scale


def score(state: State, arrays: PreparedArrays, out: np.ndarray, name: str, kind: str,
          fold: int, seed: int) -> Scored:
    """One run's metrics, per-item errors and error profile on its fold's test split."""
    if isinstance(state, ClassifyState):
        y, pred = arrays["y_test"], out.argmax(axis=1)
        return Scored(name, kind, fold, seed, classify_metrics(y, pred, len(state.classes)),
                      item_errors("classify", y, out, None), np.ones(len(y), bool),
                      length_errors(y, pred, arrays["len_test"]), truth=y, pred=pred,
                      stratum=y, block=np.arange(len(y)))
    y, yhat, scale = _in_units(state, arrays, out)
    sid, pos = arrays["sid_test"], arrays["pos_test"]
    return Scored(name, kind, fold, seed, forecast_metrics(y, yhat, scale),
                  item_errors("forecast", y, yhat, scale),
                  non_overlapping(sid, pos, state.horizon), horizon_errors(y, yhat, scale),
                  stratum=sid, block=window_blocks(sid, pos, state.horizon),
                  sums=window_errors(y, yhat))


def _fold(ev: EvaluateConfig, layout: Layout, fold: int, jobs: list[Job], failures: dict[str, str],
          notes: dict[str, str], spent: dict[str, list[float]], workers: int,
          intervals: Intervals) -> tuple[list[Scored], ForecastSample | None]:
    """Every baseline and every trained job of one fold, scored (a reference's fit + predict
    seconds added to `spent`; the statistical ones fitted on `workers` processes), each
    forecaster with its interval calibration and test coverage; on fold 0 when forecasting,
    the sample of forecasts the report draws (every baseline, each model's kept run: its
    lowest validation loss, as `_cost_alone` and promote keep)."""
    state, arrays = read_state(layout, fold), read_arrays(layout, fold)
    sample = ForecastSample(state, arrays) if fold == 0 and isinstance(state, ForecastState) \
        else None
    runs: list[Scored] = []
    drawn: dict[str, list[tuple[float, int, np.ndarray]]] = {}  # model: (val loss, seed, out)

    def scored(out: np.ndarray, name: str, kind: str, seed: int) -> Scored | None:
        """The run's scores; None when they are not finite (metrics.json holds numbers)."""
        run = score(state, arrays, out, name, kind, fold, seed)
        if not finite(run):
            return None
        if sample and (seed == -1 or kind == CHAMPION):
            sample.add(kind, out, name)
        return run

    where = f"fold {fold}: " if state.folds > 1 else ""
    for y in yardsticks(state, arrays, ev.references, workers):
        run = scored(y.out, y.name, y.kind, -1) if y.out is not None else None
        note = y.note or (NOT_FINITE if y.out is not None and run is None else None)
        if note:
            notes[y.name] = "; ".join(filter(None, [notes.get(y.name), where + note]))
        runs += [run] if run else []
        if y.seconds is not None:
            spent.setdefault(y.name, []).append(y.seconds)
    if fold == 0 and layout.champion.exists():
        champ = challenge(layout.champion, state, arrays)
        run = scored(champ.out, CHAMPION, CHAMPION, 0) if champ.out is not None else None
        if champ.out is not None and run is None:
            champ = replace(champ, out=None, why=NOT_FINITE)
        notes[CHAMPION] = champ.note
        runs += [run] if run else []
    inputs = split_tensors(arrays, state.task, "test")[:-1]
    for job in jobs:
        if job.key in failures or not layout.card(job).exists():
            failures.setdefault(job.key, "no trained model")
            continue
        module, card = load_model(layout.job_dir(job), state)
        out = predict(module, inputs)  # (N, H) scaled forecasts, or (N, C) logits
        run = scored(out, job.name, "model", job.seed)
        if run is None:
            failures[job.key] = NOT_FINITE
            continue
        conformal = intervals.of(job)  # forecasters: calibrated across origins, then
        run.card = card.model_copy(update={"conformal": conformal})  # the test share covered
        if conformal is not None:
            run.coverage = coverages(arrays["y_test"], out, conformal)
        runs.append(run)
        if sample:  # the plot draws each model's kept run
            drawn.setdefault(job.name, []).append((_val_loss(card), job.seed, out))
    for name, outs in drawn.items():
        sample.add("model", min(outs, key=lambda o: o[:2])[2], name)  # type: ignore[union-attr]
    return runs, sample


def _val_loss(card: ModelCard) -> float:
    """The best validation loss, which picks a model's kept run (inf when unknown)."""
    return np.inf if card.best_val_loss is None else card.best_val_loss


NOT_FINITE = "its test errors are not finite numbers (NaN or overflow)"


def finite(run: Scored) -> bool:
    """Every metric and every per-item error of the run is a finite number."""
    return bool(np.isfinite(run.errors).all()) and all(
        np.isfinite(v) for v in run.metrics.values())


def _cost_alone(threads: int, layout: Layout, state: State, runs: list[Scored], inputs: tuple
                ) -> dict[str, Any]:
    """Latency and throughput of the model's kept run (holdout fold, best validation loss) on
    the holdout test `inputs`, measured after every training ended, one model at a time, on
    train.threads threads; in PyTorch, then exported to ONNX in ONNX Runtime."""
    kept = min((r for r in runs if r.fold == 0 and r.card),
               key=lambda r: (_val_loss(r.card), r.seed))  # type: ignore[arg-type]
    job = Job(kept.name, kept.seed, 0)
    module, _ = load_model(layout.job_dir(job), state)
    one = latency(module, inputs, 1, threads)
    many = latency(module, inputs, LARGE_BATCH, threads, min_reps=BATCH_REPS,
                   warmup=BATCH_WARMUP)  # cut to the split's size
    return {"kept_seed": kept.seed, "latency_ms": one["p50_ms"], "latency_p95_ms": one["p95_ms"],
            "batch": many["batch"], "batch_latency_ms": many["p50_ms"],
            "batch_latency_p95_ms": many["p95_ms"], "throughput_per_s": many["throughput_per_s"],
            "size_bytes": layout.weights(job).stat().st_size,
            **onnx_cost(module, inputs, threads, LARGE_BATCH, BATCH_REPS, BATCH_WARMUP)}


def _failed(name: str, jobs: list[Job], failures: dict[str, str]) -> Row | None:
    """A failed row when any of the model's runs failed (fewer runs would not be comparable):
    each distinct error once, with the runs it hit."""
    mine = [j for j in jobs if j.name == name]
    bad = [j for j in mine if j.key in failures]
    if not bad:
        return None
    def where(error: str) -> str:
        return ", ".join(f"fold {j.fold} seed {j.seed}" for j in bad if failures[j.key] == error)

    errors = list(dict.fromkeys(failures[j.key] for j in bad))[:3]
    text = "; ".join(f"{e} ({where(e)})" for e in errors)
    return Row(model=name, kind="model", status="failed",
               error=f"{text}; {len(bad)} of {len(mine)} runs failed")


def _diagnosis(task: str, runs: list[Scored], errors: dict[str, np.ndarray],
               base: str) -> str | None:
    """Did the model learn (every run's validation improved, and its test errors beat the
    best naive baseline's significantly)?"""
    stuck = [r.card for r in runs if r.card and not r.card.val_improved]
    card = stuck[0] if stuck else runs[0].card
    return diagnose(task, card, errors[runs[0].name], errors[base], base)  # type: ignore[arg-type]


def _rows(threads: int, layout: Layout, state: State, runs: list[Scored], jobs: list[Job],
          failures: dict[str, str], notes: dict[str, str], spent: dict[str, list[float]]
          ) -> tuple[list[Row], pl.DataFrame]:
    task, frame = state.task, error_frame(runs)
    errors, boot = paired_errors(frame), Bootstrap(frame, task)
    naive = [n for n in NAIVE[task] if n in errors]
    base = min(naive, key=lambda n: float(errors[n].mean()))
    holdout = split_tensors(read_arrays(layout), task, "test")[:-1]  # read once, for latency
    rows = []
    for name in dict.fromkeys(r.name for r in runs):
        mine = [r for r in runs if r.name == name]
        row = aggregate(task, mine, boot)
        row.note = notes.get(name)
        if row.kind == "reference" and spent.get(name):
            row.train_seconds = float(np.mean(spent[name]))  # fit + predict, per fold
        if row.kind == "model":
            if _failed(name, jobs, failures):
                continue
            why = _diagnosis(task, mine, errors, base)
            row = Row.model_validate({  # validated: a misnamed cost field is an error
                **row.model_dump(), "model": name, "learned": why is None, "diagnosis": why,
                "params_equal_width": equal_width(mine[0].card, state),  # type: ignore[arg-type]
                **_cost_alone(threads, layout, state, mine, holdout)})
            row.conformal = next((r.card.conformal for r in mine if r.card and r.fold == 0
                                  and r.seed == row.kept_seed), None)
        rows.append(row)
    names = dict.fromkeys(j.name for j in jobs)
    rows += [r for r in (_failed(n, jobs, failures) for n in names) if r]
    rows += [Row(model=name, kind=CHAMPION if name == CHAMPION else "reference",
                 status="skipped", note=note)
             for name, note in notes.items() if name not in {r.model for r in rows}]
    return rows, frame


def _untuned(layout: Layout | None) -> tuple[list[Row], dict[str, list[np.ndarray]]] | None:
    """The rows and per-run errors that the untuned models scored in `layout` (None: none)."""
    if layout is None:
        return None
    rows = read(Metrics, layout.metrics).rows()
    return rows, run_errors(pl.read_parquet(layout.errors))


def evaluate(names: list[str], tc: TrainConfig, ev: EvaluateConfig, level: float,
             layout: Layout, failures: dict[str, str] | None = None,
             levels: list[float] | None = None, untuned: Layout | None = None) -> Metrics:
    """Score every run of the models `names` and every baseline (the jobs in `failures`, by
    job key, are reported failed), forecasters with intervals at `levels` (None:
    forecast.intervals' default); write metrics.json (with the folklore verdicts, tested at
    `level`, and what tuning changed against the models scored in `untuned`),
    leaderboard.csv, errors.parquet and forecasts.parquet."""
    quiet_lightning()
    torch.set_num_threads(tc.threads)
    notes: dict[str, str] = {}
    spent: dict[str, list[float]] = {}
    state = read_state(layout)
    folds = state.folds
    jobs = tc.jobs(names, folds)
    failures = dict(failures or {})  # evaluate adds the runs it cannot score
    runs, sample = [], None
    intervals = Intervals.of_run(layout, state, ForecastConfig().intervals if levels is None
                                 else levels)
    for fold in range(folds):
        scored, drawn = _fold(ev, layout, fold, [j for j in jobs if j.fold == fold], failures,
                              notes, spent, tc.workers or cores(), intervals)
        runs, sample = runs + scored, sample or drawn
    rows, frame = _rows(tc.threads, layout, state, runs, jobs, failures, notes, spent)
    board = leaderboard_schema.validate(_flat(rows, state.task))
    forecasts = sample.frame() if sample else no_sample()
    measured = measured_table(rows, state.task, runs, run_errors(frame), level,
                              _untuned(untuned))
    metrics = Metrics.of(state.task, rows, measured)
    write(layout.metrics, metrics, exclude_none=True)
    atomic_write(layout.leaderboard, board.write_csv)
    atomic_write(layout.errors, frame.write_parquet)
    atomic_write(layout.forecasts, forecasts.write_parquet)
    return metrics


def run(cfg: Config, layout: Layout, failures: dict[str, str] | None = None) -> Metrics:
    """`evaluate` with its sections of `cfg`."""
    return evaluate(list(cfg.models), cfg.train, cfg.evaluate, cfg.promote.level, layout,
                    failures, cfg.forecast.intervals,
                    layout.untuned if cfg.train.tune.compare_untuned else None)


def _flat(rows: list[Row], task: str) -> pl.DataFrame:
    """The leaderboard as a flat table: every Row field a column in the Row's order (the other
    task's metrics left out); nested intervals become METRIC_sd / METRIC_lo / METRIC_hi."""
    other = {m for t, names in METRICS.items() if t != task for m in names}
    flat = []
    for r in rows:
        cells = {"model": r.model,
                 **r.model_dump(exclude={"interval", "profile", "coverage", "conformal",
                                        *other})}
        for m, ci in r.interval.items():
            cells |= {f"{m}_sd": ci.sd, f"{m}_lo": ci.lo, f"{m}_hi": ci.hi}
        cells |= {f"covered_{level_name(c.level)}": c.covered for c in r.coverage or []}
        flat.append(cells)
    types = {"params": pl.Int64, "size_bytes": pl.Int64, "train_seconds": pl.Float64,
             "latency_ms": pl.Float64}
    return pl.DataFrame(flat, infer_schema_length=None, schema_overrides=types)
