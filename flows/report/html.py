"""report.html: the review page, one self-contained file (inline CSS and SVG plots, no script,
no external resource; a Content-Security-Policy forbids any), with the content of report.md
and the plots. Every user-given string is HTML-escaped on one line (flows/text.one_line)."""

from __future__ import annotations

import html
from typing import Any

import polars as pl

from flows.report.markdown import data_lines, evidence
from flows.report.plots import (
    confusion,
    cost_vs_score,
    forecast_vs_actual,
    intervals,
    learning_curves,
    profiles,
    tuning_curves,
)
from flows.report.text import LIMIT, LONG, one_line
from flows.report.view import (
    HISTORY_HEAD,
    INTERVALS_TITLE,
    TUNING_HEAD,
    board,
    history_view,
    intervals_view,
    measured_view,
    onnx_note,
    pooled_note,
    tuning_view,
    verdict,
)
from schemas.artifacts import Decision, ModelCard, Row, ValidationReport
from schemas.prepared import ClassifyState, ForecastState
from schemas.tuning import Tuning

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;
padding:2px 6px;text-align:right}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}
.decision{background:#f3f7ff;border-left:4px solid #36c;padding:.6em 1em}
.headline{background:#fff4e5;border-left:4px solid #d80;padding:.6em 1em}
.flag{color:#b00}figure{margin:1em 0}svg{max-width:100%;height:auto}
h1,li,p{overflow-wrap:anywhere}"""


def esc(value: object, limit: int = LIMIT) -> str:
    """A user's value as HTML text on one line."""
    return html.escape(one_line(value, limit))


def code(value: object, limit: int = LIMIT) -> str:
    return f"<code>{esc(value, limit)}</code>"


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{ln.removeprefix('- ')}</li>" for ln in lines) + "</ul>"


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def leaderboard(rows: list[Row], task: str, decision: Decision) -> str:
    """Rank, model, kind and flags, metrics (mean [95% interval]), cost; the notes below."""
    view = board(rows, task, decision)
    body = [[ln.rank, esc(ln.model) + (" ✓" if ln.won else ""),
             ln.kind + "".join(f' <span class="flag">⚠ {esc(f, LONG)}</span>' for f in ln.flags),
             *ln.cells] for ln in view.lines]
    notes = [f"{esc(m)}: {esc(n, LONG)}" for mark, m, n in view.notes if mark == "*"]
    return _table(view.head, body) + (_items(notes) if notes else "")


def measured(table: dict[str, dict[str, str]]) -> str:
    head, rows = measured_view(table)
    if not head:
        return "<p>No model trained.</p>"
    return _table([esc(h) for h in head], [[esc(c, LONG) for c in r] for r in rows])


def intervals_html(rows: list[Row]) -> str:
    """The forecasters' interval coverage and what it should be near; nothing without it."""
    view = intervals_view(rows)
    if view is None:
        return ""
    return (f"<h2>{INTERVALS_TITLE}</h2>"
            + _table(view.head, [[esc(m), *cells] for m, *cells in view.rows])
            + f"<p>{esc(view.note, LONG)}</p>"
            + (f"<p>{note}</p>" if (note := pooled_note(view, esc)) else ""))


def tuning_html(tuning: Tuning | None) -> str:
    """The tuning section (train.tune); empty when the models were not tuned."""
    if tuning is None:
        return ""
    rows, note = tuning_view(tuning)
    return (f"<h2>Tuning ({tuning.trials} trials per model)</h2>"
            + _table(TUNING_HEAD, [[esc(c, LONG) for c in r] for r in rows])
            + f"<p>{esc(note, 4000)}</p>"
            + _figure(tuning_curves(tuning), "each model's best validation loss by trial "
                      "(dots: complete trials; crosses: pruned, at the loss they had reached)"))


def history(lines: list[dict[str, Any]]) -> str:
    """The last decisions of this output folder, newest first."""
    if not lines:
        return "<p>No earlier decisions in this output folder.</p>"
    return _table(HISTORY_HEAD, [[esc(c) for c in r] for r in history_view(lines)])


def _per_class(classes: dict[str, Any] | None) -> list[str]:
    """The confusion matrix and per-class scores of the promoted (or best) model."""
    if not classes:
        return []
    s = classes["scores"]
    rows = [[esc(c), str(s["support"][i]), f"{s['precision'][i]:.3f}", f"{s['recall'][i]:.3f}",
             f"{s['f1'][i]:.3f}"] for i, c in enumerate(classes["classes"])]
    return [f"<h2>Per class: {esc(classes['model'])} on the holdout test sequences</h2>",
            _figure(confusion(classes["counts"], classes["classes"], classes["model"]),
                    "rows: true class; columns: predicted class"),
            _table(["class", "test sequences", "precision", "recall", "F1"], rows)]


def _figure(svg: str | None, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>" if svg else ""


def _forecasts(state: ForecastState | ClassifyState, forecasts: pl.DataFrame | None,
               bands: pl.DataFrame | None = None) -> str:
    """Forecast against actual for a few series (forecasting, when evaluate kept them), with
    the promoted (or best) network's intervals when it has them."""
    if forecasts is None or not isinstance(state, ForecastState):
        return ""
    around = ""
    if bands is not None and not bands.is_empty():
        levels = " and ".join(f"{a:.0%}" for a in bands["level"].unique().sort())
        around = (f"; shaded around {esc(bands['model'][0])}'s forecast: its {levels} "
                  "split-conformal intervals (calibrated on validation)")
    return _figure(forecast_vs_actual(forecasts, state.target, bands),
                   "forecast against actual: the last holdout test window of the first "
                   f"{forecasts['series'].n_unique()} series, the horizon in grey (models: "
                   f"kept run; dotted: baselines){around}")


def _plots(rows: list[Row], task: str, decision: Decision,
           cards: dict[str, list[ModelCard]]) -> str:
    metric = decision.metric
    return "".join([
        _figure(intervals(rows, metric), f"{metric} per model: mean and 95% interval"),
        _figure(cost_vs_score(rows, metric, decision.lower_is_better),
                "accuracy against cost; the Pareto front joins the models nothing beats on both"),
        _figure(profiles(rows, task), "error by horizon step" if task == "forecast"
                else "error rate by sequence length"),
        _figure(learning_curves(cards), "learning curves of every run; dotted: the "
                "step whose weights were kept"),
    ])


def render_html(state: ForecastState | ClassifyState, validation: ValidationReport,
                rows: list[Row], decision: Decision, budget: str,
                table: dict[str, dict[str, str]], cards: dict[str, list[ModelCard]],
                past: list[dict[str, Any]], classes: dict[str, Any] | None = None,
                forecasts: pl.DataFrame | None = None, bands: pl.DataFrame | None = None,
                tuning: Tuning | None = None) -> str:
    """The whole report.html (with its tuning section when train.tune searched)."""
    title = f"seqarena report: {esc(validation.file, LONG)}"
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        (f'<p class="headline"><b>{esc(decision.headline, 4000)}</b></p>'
         if decision.headline else ""),
        f'<p class="decision"><b>{esc(verdict(decision))}.</b> '
        f"{esc(decision.reason, 4000)}</p>",
        "<h2>Data</h2>", _items(data_lines(state, validation, esc, code)),
        f"<h2>Leaderboard (test split, ranked by {esc(decision.metric)}, "
        f"{'lower' if decision.lower_is_better else 'higher'} is better)</h2>",
        leaderboard(rows, state.task, decision),
        f"<p>Every model trained with the same budget: {esc(budget, LONG)}. "
        f"{esc(onnx_note(rows), LONG)}</p>",
        tuning_html(tuning),
        intervals_html(rows),
        "<h2>Plots</h2>", _plots(rows, state.task, decision, cards),
        _forecasts(state, forecasts, bands),
        *_per_class(classes),
        "<h2>Evidence (paired tests on the same test items)</h2>",
        _items(evidence(decision, esc)),
        "<h2>Your data, measured</h2>", measured(table),
        "<h2>Champion and history</h2>", history(past),
        "</body></html>", ""])
