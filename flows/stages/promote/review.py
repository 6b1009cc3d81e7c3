"""report.md, report.html and the plot tables (plots/*.csv, for `dvc plots`) from a run's
files: the promote stage, and `seqarena report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pandera.errors import SchemaError

from flows.evidence.scoring import per_class
from flows.report.html import render_html
from flows.report.markdown import render_report
from flows.report.text import LONG, formula_safe, one_line
from modules.budget import Budget
from modules.conformal import bounds
from schemas.artifacts import Decision, Metrics, ModelCard, Row, read, read_state, read_validation
from schemas.errors import UsageError
from schemas.files import atomic_write, write_text
from schemas.history import read_history
from schemas.intervals import Conformal
from schemas.layout import Job, Layout
from schemas.prepared import ClassifyState, ForecastState
from schemas.stages import FORECASTS, forecasts_schema
from schemas.tuning import Tuning


def _cards(layout: Layout, rows: list[Row]) -> dict[str, list[ModelCard]]:
    """The model card of every run evaluate scored (errors.parquet), by trained model."""
    if not layout.errors.exists():
        return {}
    runs = pl.read_parquet(layout.errors, columns=["model", "fold", "seed"]).unique()
    out: dict[str, list[ModelCard]] = {}
    for r in (r for r in rows if r.trained):
        mine = runs.filter(pl.col("model") == r.model).sort("fold", "seed")
        jobs = [Job(r.model, seed, fold) for fold, seed in mine.select("fold", "seed").iter_rows()]
        out[r.model] = [read(ModelCard, layout.card(j)) for j in jobs
                        if layout.card(j).exists()]
    return out


def _budget(cards: dict[str, list[ModelCard]]) -> str:
    """The training budget in words, from a trained model's card (every model had it)."""
    first = next((c for runs in cards.values() for c in runs), None)
    if not first:
        return "no model trained"
    devices = sorted({c.device or "a device not recorded" for runs in cards.values() for c in runs})
    return f"{Budget(**first.budget).describe()}; trained on {', '.join(devices)}"


def _history_root(layout: Layout) -> Path:
    """Where history.jsonl is: linked into the run folder, or two levels up (OUT/runs/ID)."""
    if layout.history.exists() or layout.root.parent.name != "runs":
        return layout.root
    return layout.root.parent.parent


def _classes(layout: Layout, state: ClassifyState, rows: list[Row], decision: Decision
             ) -> dict[str, Any] | None:
    """The confusion matrix and per-class scores of the promoted model (else the best
    challenger or model) on the holdout test sequences, its kept seed."""
    name = decision.winner or decision.challenger or decision.best_model
    row = next((r for r in rows if r.model == name and r.kept_seed is not None), None)
    if row is None or not layout.errors.exists():
        return None
    items = pl.read_parquet(layout.errors).filter(
        (pl.col("model") == name) & (pl.col("fold") == 0) & (pl.col("seed") == row.kept_seed))
    if "pred" not in items.columns or items["pred"].null_count():
        return None
    truth, pred, n = items["truth"].to_numpy(), items["pred"].to_numpy(), len(state.classes)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (truth, pred), 1)
    return {"model": name, "classes": state.classes, "counts": counts.tolist(),
            "scores": per_class(truth, pred, n), "truth": truth, "pred": pred}


def _forecasts(layout: Layout, rows: list[Row]) -> pl.DataFrame | None:
    """The sample of forecasts evaluate kept (forecasts.parquet), lines of models without a
    result dropped; None when classifying or for a run made before the file existed."""
    if not layout.forecasts.exists():
        return None
    try:
        frame = forecasts_schema.validate(pl.read_parquet(layout.forecasts))
    except (OSError, pl.exceptions.PolarsError, SchemaError) as exc:
        raise UsageError(f"{layout.forecasts}: not a forecasts table ({one_line(exc, LONG)}); "
                         "delete it to report without that plot, or rerun the comparison") \
            from exc
    ok = [r.model for r in rows if r.ok]
    frame = frame.filter(pl.col("model").is_null() | pl.col("model").is_in(ok))
    return None if frame.is_empty() else frame


def calibration(row: Row, cards: dict[str, list[ModelCard]]) -> Conformal | None:
    """A row's interval calibration: evaluate's (Row.conformal), else, in a run made before
    evaluate calibrated, the one its kept run's card (fold 0, kept seed) held from training."""
    kept = (c.conformal for c in cards.get(row.model, [])
            if c.fold == 0 and c.seed == row.kept_seed)
    return row.conformal or next(kept, None)


def _bands(state: ForecastState, decision: Decision, rows: list[Row],
           cards: dict[str, list[ModelCard]], forecasts: pl.DataFrame | None
           ) -> pl.DataFrame | None:
    """The promoted (else the best) network's intervals (its kept run's calibration, as
    promoted) around its drawn forecast (the same kept run's on the holdout fold), in the
    user's units: model, series, level, step, lo, hi."""
    names = [n for n in (decision.winner, decision.challenger, decision.best_model) if n]
    found = [(n, c) for n in names for r in rows if r.model == n
             for c in [calibration(r, cards)] if c]
    if forecasts is None or not found:
        return None
    name, conformal = found[0]
    drawn = forecasts.filter(pl.col("model") == name).sort("series", "step")
    if drawn.is_empty():
        return None
    stats = {r.series: r for r in state.scaling if r.column == state.target}
    series = list(dict.fromkeys(drawn["series"].to_list()))
    steps = drawn.filter(pl.col("series") == series[0])["step"].to_numpy()
    mean = np.array([stats[s].mean for s in series])[:, None]  # (K, 1)
    std = np.array([stats[s].std for s in series])[:, None]
    yhat = drawn["value"].fill_null(np.nan).to_numpy().reshape(len(series), -1)  # (K, H)
    parts = [pl.DataFrame({"model": name, "series": np.repeat(series, len(steps)),
                           "level": level, "step": np.tile(steps, len(series)),
                           "lo": (lo * std + mean).ravel(), "hi": (hi * std + mean).ravel()})
             for level, lo, hi in bounds((yhat - mean) / std, conformal)]
    return pl.concat(parts)


def _plot_tables(layout: Layout, cards: dict[str, list[ModelCard]], rows: list[Row],
                 task: str, classes: dict[str, Any] | None,
                 forecasts: pl.DataFrame | None) -> None:
    """plots/learning_curves.csv, profile.csv, confusion.csv (dvc.yaml) and forecasts.csv
    (header only when there is no sample)."""
    curves = pl.DataFrame([{"model": name, "fold": c.fold, "seed": c.seed, "step": h.step,
                            "val_loss": h.val_loss, "train_loss": h.train_loss}
                           for name, runs in cards.items() for c in runs for h in c.history],
                          schema=["model", "fold", "seed", "step", "val_loss", "train_loss"])
    if task == "forecast":
        profile = pl.DataFrame([{"model": r.model, "step": i + 1, "mase": v}
                                for r in rows if r.profile
                                for i, v in enumerate(r.profile)],
                               schema=["model", "step", "mase"])
    else:
        profile = pl.DataFrame([{"model": r.model,
                                 "lengths": f"{b['min_length']}-{b['max_length']}",
                                 "error_rate": b["error_rate"]}
                                for r in rows if r.profile for b in r.profile],
                               schema=["model", "lengths", "error_rate"])
    names = classes["classes"] if classes else []
    confusion = pl.DataFrame(  # header only when forecasting: dvc.yaml declares every file
        {"actual": [names[i] for i in classes["truth"]] if classes else [],
         "predicted": [names[i] for i in classes["pred"]] if classes else []},
        schema={"actual": pl.String, "predicted": pl.String})
    sample = forecasts if forecasts is not None else pl.DataFrame(schema=FORECASTS)
    tables = {"learning_curves.csv": curves, "profile.csv": profile, "confusion.csv": confusion,
              "forecasts.csv": sample}
    for file, frame in tables.items():
        atomic_write(layout.plots / file, formula_safe(frame).write_csv)


def write_reports(layout: Layout) -> tuple[Path, Path]:
    """Render and write report.md, report.html and plots/ of the run in `layout`."""
    state, validation = read_state(layout), read_validation(layout)
    metrics, decision = read(Metrics, layout.metrics), read(Decision, layout.decision)
    rows = metrics.rows()
    cards = _cards(layout, rows)
    past = read_history(_history_root(layout))[0]
    budget = _budget(cards)
    tuning = read(Tuning, layout.trials) if layout.trials.exists() else None
    classes = _classes(layout, state, rows, decision) if isinstance(state, ClassifyState) \
        else None
    forecasts = _forecasts(layout, rows) if state.task == "forecast" else None
    _plot_tables(layout, cards, rows, state.task, classes, forecasts)
    write_text(layout.report, render_report(state, validation, rows, decision, budget,
                                            metrics.measured, cards, past, tuning))
    bands = _bands(state, decision, rows, cards, forecasts) if isinstance(state, ForecastState) \
        else None
    write_text(layout.report_html, render_html(state, validation, rows, decision, budget,
                                               metrics.measured, cards, past, classes,
                                               forecasts, bands, tuning))
    return layout.report, layout.report_html
