"""The report's plots, drawn with matplotlib (Agg) as inline SVG. Text is drawn as glyph
paths (svg.fonttype 'path'), so a user's name never becomes SVG markup, and `$` is escaped so
it never starts mathtext."""

from __future__ import annotations

import io
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from flows.report.text import one_line
from schemas.artifacts import ModelCard, Row
from schemas.tuning import Tuning

plt.rcParams.update({"svg.fonttype": "path", "font.size": 8, "axes.titlesize": 9,
                     "figure.dpi": 96, "svg.hashsalt": "seqarena"})
COLORS = {"model": "tab:blue", "baseline": "tab:gray", "reference": "tab:green",
          "champion": "tab:red"}
LABEL_CHARS = 40
COMMENT = re.compile(r"<!--.*?-->", re.S)


def label(value: object) -> str:
    """A user's string as plot text: one line, controls shown as <U+XXXX>, shortened, every
    `$` escaped (so matplotlib never parses mathtext and shows backslashes as they are), and
    no `--` (matplotlib copies text into SVG comments)."""
    text = one_line(value, LABEL_CHARS)
    text = text.replace("--", "-\u2010")
    return text.replace("$", r"\$")


def svg(fig: Figure) -> str:
    """The figure as an <svg> element (no XML prolog), then closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return COMMENT.sub("", text[text.index("<svg"):])  # they repeat the labels as text


def _num(x: float | None) -> float:
    return math.nan if x is None else x


def learning_curves(cards: dict[str, list[ModelCard]]) -> str | None:
    """Validation (solid) and training (dashed) loss against optimizer steps, every run of
    every model, one panel per model."""
    shown = {name: runs for name, runs in cards.items() if any(c.history for c in runs)}
    if not shown:
        return None
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False,
                             layout="constrained")
    for ax, (name, runs) in zip(axes.flat, shown.items(), strict=False):
        for i, card in enumerate(runs):
            steps = [h.step for h in card.history]
            color = f"C{i % 10}"
            ax.plot(steps, [_num(h.val_loss) for h in card.history], color=color,
                    label=f"fold {card.fold} seed {card.seed}")
            ax.plot(steps, [_num(h.train_loss) for h in card.history], color=color, ls="--",
                    lw=0.8)
            ax.axvline(card.best_step, color=color, lw=0.5, ls=":")
        ax.set_title(label(name))
        ax.set_xlabel("optimizer step")
        ax.set_yscale("log")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("loss (solid: validation, dashed: train)")
    return svg(fig)


def tuning_curves(tuning: Tuning) -> str | None:
    """Each model's best validation loss so far against its trial number (complete trials;
    a pruned trial is a cross at the loss it had reached when it was stopped)."""
    arms = [a for a in tuning.arms if any(t.val_loss is not None for t in a.trials)]
    if not arms:
        return None
    fig, ax = plt.subplots(figsize=(6, 2.8), layout="constrained")
    for i, arm in enumerate(arms):
        color, best, xs, ys = f"C{i % 10}", math.inf, [], []
        done = [t for t in arm.trials if t.state == "complete" and t.val_loss is not None]
        for t in arm.trials:
            if t in done and t.val_loss is not None:
                best = min(best, t.val_loss)
            if best < math.inf:
                xs, ys = [*xs, t.number], [*ys, best]
        ax.step(xs, ys, where="post", color=color, label=label(arm.model))
        ax.scatter([t.number for t in done], [t.val_loss for t in done], color=color, s=8)
        cut = [t for t in arm.trials if t.state == "pruned" and t.val_loss is not None]
        ax.scatter([t.number for t in cut], [t.val_loss for t in cut], color=color, s=14,
                   marker="x", lw=0.8)
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss (line: best so far)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=6, ncols=2)
    return svg(fig)


def pareto(points: list[tuple[float, float]], lower: bool) -> list[int]:
    """Indices of the points no other point beats on both cost (x, lower is better) and
    score (y), in order of cost."""
    def better(a: tuple[float, float], b: tuple[float, float]) -> bool:
        score_ok = a[1] <= b[1] if lower else a[1] >= b[1]
        return a[0] <= b[0] and score_ok and a != b
    front = [i for i, p in enumerate(points) if not any(better(q, p) for q in points)]
    return sorted(front, key=lambda i: points[i][0])


def cost_vs_score(rows: list[Row], metric: str, lower: bool) -> str | None:
    """The metric against latency (batch 1) and against parameters, the Pareto front joined."""
    models = [r for r in rows if r.trained and r.latency_ms]
    if not models:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8), layout="constrained")
    for ax, key, name in ((axes[0], "latency_ms", "latency p50, batch 1 (ms)"),
                          (axes[1], "params", "parameters")):
        points = [(float(getattr(r, key)), r.score(metric)) for r in models]
        for r, (x, y) in zip(models, points, strict=True):
            ax.scatter(x, y, color=COLORS["model"], s=14)
            ax.annotate(label(r.model), (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        front = pareto(points, lower)
        ax.plot([points[i][0] for i in front], [points[i][1] for i in front], color="tab:orange",
                lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(f"{metric} ({'lower' if lower else 'higher'} is better)")
        ax.legend(fontsize=6)
    return svg(fig)


def intervals(rows: list[Row], metric: str) -> str | None:
    """Each row's mean with its 95% bootstrap interval, coloured by kind."""
    shown = [r for r in rows if r.ok and getattr(r, metric) is not None]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 0.8))
    for i, r in enumerate(reversed(shown)):
        ci, mean = r.interval.get(metric), r.score(metric)
        err = ([[max(mean - ci.lo, 0.0)], [max(ci.hi - mean, 0.0)]]  # a percentile interval
               if ci and ci.lo is not None and ci.hi is not None else None)  # may miss the mean
        ax.errorbar(mean, i, xerr=err, fmt="o", ms=4, capsize=3,
                    color=COLORS.get(r.kind, "black"))
    ax.set_yticks(range(len(shown)), [label(r.model) for r in reversed(shown)])
    ax.set_xlabel(f"{metric}: mean and 95% interval over test items and seeds (blue: models, "
                  "grey: baselines, green: references, red: champion)")
    return svg(fig)


def profiles(rows: list[Row], task: str) -> str | None:
    """Forecast: MASE per horizon step. Classification: error rate per length bucket."""
    shown = [r for r in rows if r.ok and r.profile]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(6, 2.8))
    for r in shown:
        if task == "forecast":
            ax.plot(range(1, len(r.profile) + 1), r.profile, marker=".",
                    label=label(r.model), ls="-" if r.kind == "model" else ":")
        else:
            names = [f"{b['min_length']}-{b['max_length']}" for b in r.profile]
            ax.plot(names, [b["error_rate"] for b in r.profile], marker=".",
                    label=label(r.model), ls="-" if r.kind == "model" else ":")
    ax.set_xlabel("horizon step" if task == "forecast" else "sequence length")
    ax.set_ylabel("MASE" if task == "forecast" else "error rate")
    ax.legend(fontsize=6, ncol=2)
    return svg(fig)


def confusion(counts: list[list[int]], classes: list[str], model: str) -> str | None:
    """Test sequences by true (rows) and predicted (columns) class, counts in the cells."""
    if not counts:
        return None
    n = len(classes)
    size = min(max(4.0, 1.0 + 0.45 * n), 9.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), layout="constrained")
    ax.imshow(counts, cmap="Blues")
    names = [label(c) for c in classes]
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    if n <= 20:
        peak = max(max(row) for row in counts) or 1
        for i, row in enumerate(counts):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > peak / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix: {label(model)}")
    return svg(fig)


def _band(ax: plt.Axes, bands: pl.DataFrame | None, series: str, color: str) -> None:
    """One series' intervals around a forecast, widest (lightest) first; steps without a
    finite bound are left out."""
    if bands is None:
        return
    mine = bands.filter(pl.col("series") == series)
    for level in sorted(mine["level"].unique().to_list(), reverse=True):
        band = mine.filter(pl.col("level") == level).sort("step")
        lo, hi = band["lo"].to_numpy(), band["hi"].to_numpy()
        ax.fill_between(band["step"].to_numpy(), lo, hi, color=color, lw=0,
                        alpha=0.12 if level > 0.9 else 0.22, label=f"{level:.0%} interval",
                        where=np.isfinite(lo) & np.isfinite(hi))


def forecast_vs_actual(frame: pl.DataFrame, target: str, bands: pl.DataFrame | None = None
                       ) -> str | None:
    """One panel per series: the lookback history and the actual future (black), each
    model's (solid) and baseline's (dotted) forecast, the horizon shaded, and `bands` (one
    model's intervals: series, level, step, lo, hi) around its line; one legend."""
    if frame.is_empty():
        return None
    names = list(dict.fromkeys(frame["series"].to_list()))
    lines = frame.filter(pl.col("model").is_not_null()).select("model", "kind").unique(
        maintain_order=True).rows()
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names) + 1.4, 2.6),
                             squeeze=False, sharey=False, layout="constrained")
    for ax, name in zip(axes.flat, names, strict=True):
        part = frame.filter(pl.col("series") == name).sort("step")
        history, actual = (part.filter(pl.col("kind") == k) for k in ("history", "actual"))
        ax.axvspan(0.5, actual["step"].max() + 0.5, color="0.92", lw=0, label="horizon")
        ax.plot(history["step"], history["value"], color="black", lw=1, label="history")
        joined = pl.concat([history.tail(1), actual])  # the actual line starts at the origin
        ax.plot(joined["step"], joined["value"], color="black", lw=1.4, marker=".", ms=3,
                markevery=list(range(1, joined.height)), label="actual")
        for i, (model, kind) in enumerate(lines):
            mine = part.filter(pl.col("model") == model)
            ax.plot(mine["step"], mine["value"], color=f"C{i % 10}", lw=1,
                    ls="-" if kind == "model" else ":", label=label(model))
            if bands is not None and model == bands["model"][0]:
                _band(ax, bands, name, f"C{i % 10}")
        ax.set_title(f"series {label(name)}")
        ax.set_xlabel("steps from the forecast origin")
    axes.flat[0].set_ylabel(label(target))
    handles, texts = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside right upper", fontsize=6)
    return svg(fig)
