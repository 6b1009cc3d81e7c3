"""report.md and report.html from a run's files (the promote stage, and `seqarena report`)."""

from __future__ import annotations

from pathlib import Path

from flows.history import read_history
from flows.report import render_report
from flows.report_html import render_html
from modules.budget import Budget
from schemas.artifacts import Decision, Metrics, ModelCard, read, read_state, read_validation
from schemas.files import write_text
from schemas.layout import Job, Layout


def _cards(layout: Layout, rows: list[dict], folds: int) -> dict[str, list[ModelCard]]:
    """Every trained run's model card, by model."""
    out: dict[str, list[ModelCard]] = {}
    for r in rows:
        if r["kind"] != "model" or r["status"] != "ok":
            continue
        seeds = sorted({int(p.name.removeprefix("seed-")) for p in
                        (layout.root / "models" / r["model"]).glob("fold-*/seed-*")})
        jobs = [Job(r["model"], s, f) for f in range(folds) for s in seeds]
        out[r["model"]] = [read(ModelCard, layout.card(j)) for j in jobs
                           if layout.card(j).exists()]
    return out


def _budget(cards: dict[str, list[ModelCard]]) -> str:
    """The training budget in words, from a trained model's card (every model had it)."""
    first = next((c for runs in cards.values() for c in runs), None)
    return Budget(**first.budget).describe() if first else "no model trained"


def _history_root(layout: Layout) -> Path:
    """Where history.jsonl is: linked into the run folder, or two levels up (OUT/runs/ID)."""
    if layout.history.exists() or layout.root.parent.name != "runs":
        return layout.root
    return layout.root.parent.parent


def write_reports(layout: Layout) -> tuple[Path, Path]:
    """Render and write report.md and report.html of the run in `layout`."""
    state, validation = read_state(layout), read_validation(layout)
    metrics, decision = read(Metrics, layout.metrics), read(Decision, layout.decision)
    rows = metrics.rows()
    cards = _cards(layout, rows, getattr(state, "folds", 1))
    past = read_history(_history_root(layout))[0]
    budget = _budget(cards)
    write_text(layout.report, render_report(state, validation, rows, decision, budget,
                                            metrics.measured, cards, past))
    write_text(layout.report_html, render_html(state, validation, rows, decision, budget,
                                               metrics.measured, cards, past))
    return layout.report, layout.report_html
