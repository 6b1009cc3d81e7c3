"""The Markdown report a person reviews: data, leaderboard, decision and its reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.report.text import LONG, md_code, md_text
from flows.report.view import (
    INTERVALS_TITLE,
    TUNING_HEAD,
    board,
    count,
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


def _names(values: list[Any], esc: Callable[..., str] = md_text) -> str:
    """User-given names (classes, features, series ids), escaped, comma-separated."""
    return ", ".join(esc(v) for v in values)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows)]


def measured_markdown(table: dict[str, dict[str, str]]) -> str:
    """The "your data, measured" table: claim rows, a column per model, the verdicts."""
    head, rows = measured_view(table)
    if not head:
        return ""
    return "\n".join(_table([*head[:2], *map(md_text, head[2:])],
                            [[a, b, *(md_text(c, LONG) for c in cells)]
                             for a, b, *cells in rows]))


def leaderboard_table(rows: list[Row], task: str, decision: Decision) -> str:
    """The leaderboard as a Markdown table, its footnotes below."""
    view = board(rows, task, decision)
    body = [[ln.rank, f"**{md_text(ln.model)}** ✓" if ln.won else md_text(ln.model),
             ln.kind + ln.marks, *ln.cells] for ln in view.lines]
    lines = _table(view.head, body)
    lines += [f"\n{mark} {md_text(m)}: {md_text(n, LONG)}" for mark, m, n in view.notes]
    return "\n".join(lines)


def intervals_lines(rows: list[Row]) -> list[str]:
    """The forecast-intervals section: its table and what to expect; none without one."""
    view = intervals_view(rows)
    if view is None:
        return []
    return [f"## {INTERVALS_TITLE}", "",
            *_table(view.head, [[md_text(m), *cells] for m, *cells in view.rows]), "",
            view.note, "", *([note, ""] if (note := pooled_note(view, md_text)) else [])]


def tuning_lines(tuning: Tuning | None) -> list[str]:
    """The tuning section (train.tune): what each model searched and used; none untuned."""
    if tuning is None:
        return []
    rows, note = tuning_view(tuning)
    body = [[md_text(m), *cells[:-2], md_text(cells[-2], LONG), md_text(cells[-1], LONG)]
            for m, *cells in rows]
    return [f"## Tuning ({tuning.trials} trials per model)", "", *_table(TUNING_HEAD, body), "",
            note + " report.html plots each model's best validation loss by trial.", ""]


def _setup(state: ForecastState | ClassifyState, esc: Callable[..., str] = md_text) -> str:
    if isinstance(state, ClassifyState):
        return f"classes: {_names(state.classes, esc)}"
    text = f"lookback {state.lookback}, horizon {state.horizon}, season {state.season}"
    if state.inferred_settings:
        keys = " and ".join(f"forecast.{k}" for k in state.inferred_settings)
        text += (f" ({' and '.join(state.inferred_settings)} inferred from the {state.step} time "
                 f"step; set {keys} to choose)")
    return text


def data_lines(state: ForecastState | ClassifyState, validation: ValidationReport,
               esc: Callable[..., str] = md_text, code: Callable[..., str] = md_code
               ) -> list[str]:
    """The report's data section: rows, validation actions, splits, features, notes; user
    values through `esc` (text) and `code` (column names)."""
    counts, unit = state.counts, "windows" if state.task == "forecast" else "sequences"
    too_short = state.too_short if isinstance(state, ForecastState) else []
    v = validation
    return [
        f"- task: {state.task}; {_setup(state, esc)}",
        f"- rows read {v.rows_in}, used {v.rows_used}, quarantined {v.rows_quarantined}, "
        f"inserted {v.rows_added} (validation.md has the checks, quarantine.csv the rows "
        "set aside)",
        *[f"- validation {c['check']} on {code(c['column'])}: {c['action']} "
          f"{c['set_aside']} rows of {c['groups']} {v.unit}"
          + (f" ({esc(c['note'], LONG)})" if c["note"] else "")
          for c in v.checks if c["set_aside"] or c["note"]],
        f"- test/val/train {unit}: {counts['test']} / {counts['val']} / {counts['train']} "
        "(scaling fitted on train only; checkpoints chosen on val; test used once, here)",
        f"- features: {_names(state.columns, esc)}",
        *[f"- {line}" for line in state.notes(esc)],
        *([f"- series too short for one window (lookback + horizon), so not used: "
           f"{_names(too_short, esc)}"] if too_short else []),
    ]


def evidence(decision: Decision, esc: Callable[..., str] = md_text) -> list[str]:
    """The tests behind the decision: paired tests against the best, non-inferiority bounds
    of the cheaper models, what the test size can detect, and the references."""
    best, metric = esc(decision.best_model or ""), decision.metric
    lines = [f"- {esc(name)}'s mean error per item minus {best}'s: {t['mean_diff']:+.4g} "
             f"over {t['n']} independent items; one-sided paired permutation test that it is "
             f"worse: p = {t['p_value']:.2g}, Holm-adjusted p = {t.get('p_holm', 1.0):.2g}"
             + (" (cannot be told apart)" if name in decision.tied else "")
             for name, t in decision.tests.items()]
    lines += [f"- {esc(name)} is cheaper ({decision.prefer}); its excess {metric} over {best}: "
              f"{b.excess:+.4g}, one-sided {1 - decision.level:.0%} upper bound {b.upper:.4g}, "
              f"margin {b.margin:.4g}, Holm-adjusted p = {b.p_holm:.2g}: "
              + ("shown non-inferior" if b.shown else "not shown non-inferior")
              for name, b in decision.bounds.items()]
    if decision.units is not None:
        lines.append(f"- independent test units resampled by the bootstrap: {decision.units}"
                     + (f"; the smallest {metric} difference from the runner-up that the test "
                        f"detects with 80% power: {decision.detectable:.3g}"
                        if decision.detectable is not None else ""))
    return lines + [f"- {esc(text, LONG)}" for text in decision.references.values()]


def history_lines(past: list[dict[str, Any]]) -> list[str]:
    """The last decisions of the output folder, newest first, as Markdown list items."""
    if not past:
        return ["- no earlier decisions in this output folder"]
    return [f"- {md_text(t)} {md_text(event)}: {md_text(outcome)}, champion {md_text(champ)} "
            f"(was {md_text(was)}), winner {md_text(winner)}"
            for t, event, outcome, champ, was, winner in history_view(past)]


def render_report(state: ForecastState | ClassifyState, validation: ValidationReport,
                  rows: list[Row], decision: Decision, budget: str,
                  measured: dict[str, dict[str, str]], cards: dict[str, list[ModelCard]],
                  past: list[dict[str, Any]], tuning: Tuning | None = None) -> str:
    """The whole report.md (with its tuning section when train.tune searched)."""
    runs_of = [c for runs in cards.values() for c in runs]
    seeds = sorted({c.seed for c in runs_of})
    threads = runs_of[0].threads if runs_of else 1
    failed = [f"- {md_code(r.model)} failed: {md_text(r.error or '', LONG)}"
              for r in rows if r.status == "failed"]
    runs = next((r for r in rows if r.trained), Row(kind="model", status="ok"))
    return "\n".join([
        f"# seqarena report: {md_code(validation.file, LONG)}", "",
        *([f"> **{md_text(decision.headline, 4000)}**", ""] if decision.headline else []),
        f"**{verdict(decision, md_text)}.** {md_text(decision.reason, 4000)}", "",
        "## Data", "",
        *data_lines(state, validation),
        "",
        f"## Leaderboard (test split, ranked by {decision.metric}, "
        f"{'lower' if decision.lower_is_better else 'higher'} is better)", "",
        leaderboard_table(rows, state.task, decision), "",
        "Scores: mean [95% bootstrap interval over test items and seeds] and sd over "
        f"{runs.runs or 1} runs per model "
        f"({count(runs.seeds or 1, 'seed')} x {count(runs.folds or 1, 'fold')}; seeds "
        f"{', '.join(map(str, seeds))}). Every model trained with the same budget: "
        f"{budget}. Cost: training time, steps and peak memory (process RSS) are means over "
        "runs; latency p50/p95 at batch 1 and throughput at a large batch were measured after "
        f"all training, one model at a time, on {threads} thread(s). "
        f"{md_text(onnx_note(rows), LONG)}",
        "",
        *failed,
        *tuning_lines(tuning),
        *intervals_lines(rows),
        "## Evidence (paired tests on the same test items)", "",
        *evidence(decision), "",
        "## Your data, measured", "",
        measured_markdown(measured), "",
        "## Champion and history", "",
        *history_lines(past), "",
        "## Policy", "",
        f"- primary metric: {decision.metric}; the winner must beat: "
        f"{', '.join(decision.must_beat) or 'nothing (promote.must_beat is empty)'}",
        f"- the best mean wins, unless a model with a lower {decision.prefer} is shown "
        f"non-inferior: the one-sided {1 - decision.level:.0%} bootstrap bound of its excess "
        f"{decision.metric} stays below the margin {decision.margin or 0:.3g} (Holm-adjusted); "
        "the winner must be shown better than each baseline it must beat (one-sided paired "
        f"permutation test at level {decision.level}); intervals are 95% bootstrap intervals "
        "over test items (blocks within classes or series) and seeds", "",
    ])
