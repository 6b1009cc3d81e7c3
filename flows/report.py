"""The Markdown report a person reviews: data, leaderboard, decision and its reasons."""

from __future__ import annotations

from typing import Any

from flows.evaluate import METRICS
from flows.preprocess import notes
from flows.validation_report import md_escape
from schemas.config import Config

COST = (("params", "params", "{:,}"), ("train_seconds", "train s", "{:.1f}"),
        ("seconds_per_epoch", "s/epoch", "{:.2f}"), ("epochs", "epochs", "{}"),
        ("latency_ms", "latency ms", "{:.3f}"), ("size_bytes", "size KiB", "{:.0f}"))


def _cell(value: Any, fmt: str, scale: float = 1.0) -> str:
    if value is None or value != value:
        return "-"
    return fmt.format(value / scale if scale != 1.0 else value)


def ranked(rows: list[dict[str, Any]], metric: str, lower: bool) -> list[dict[str, Any]]:
    """Successful rows best first, failed ones last."""
    ok = sorted((r for r in rows if r["status"] == "ok"),
                key=lambda r: r[metric] if lower else -r[metric])
    return ok + [r for r in rows if r["status"] != "ok"]


def leaderboard_table(rows: list[dict[str, Any]], task: str, decision: dict[str, Any]) -> str:
    """A Markdown table: rank, model, accuracy metrics, then costs."""
    metrics = METRICS[task]
    head = ["#", "model", "kind", *metrics, *(c[1] for c in COST)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(ranked(rows, decision["metric"], decision["lower_is_better"]), 1):
        name = f"**{r['model']}** ✓" if r["model"] == decision.get("winner") else r["model"]
        if r["status"] != "ok":
            cells = ["failed"] * len(metrics) + ["-"] * len(COST)
        else:
            cells = [_cell(r.get(m), "{:.4f}") for m in metrics] + [
                _cell(r.get(k), f, 1024.0 if k == "size_bytes" else 1.0) for k, _, f in COST]
        lines.append("| " + " | ".join([str(i), name, r["kind"], *cells]) + " |")
    return "\n".join(lines)


def render_report(cfg: Config, state: dict[str, Any], validation: dict[str, Any],
                  rows: list[dict[str, Any]], decision: dict[str, Any]) -> str:
    """The whole report.md."""
    task, counts = state["task"], state["counts"]
    unit = "windows" if task == "forecast" else "sequences"
    setup = (f"lookback {state['lookback']}, horizon {state['horizon']}, season {state['season']}"
             if task == "forecast" else f"classes: {', '.join(map(str, state['classes']))}")
    winner = decision.get("winner") or "none"
    failed = [f"- `{r['model']}` failed: {r.get('error', '')}" for r in rows
              if r["status"] != "ok"]
    return "\n".join([
        f"# seqarena report: `{validation['file']}`", "",
        f"**Promoted: {winner}.** {decision['reason']}", "",
        "## Data", "",
        f"- task: {task}; {setup}",
        f"- rows read {validation['rows_in']}, used {validation['rows_used']}, "
        f"quarantined {validation['rows_quarantined']}, inserted {validation.get('rows_added', 0)}"
        " (validation.md has the checks, quarantine.csv the rows set aside)",
        *[f"- validation {c['check']} on `{c['column']}`: {c['action']} {c['set_aside']} rows "
          f"of {c['groups']} {validation['unit']}" + (f" ({c['note']})" if c["note"] else "")
          for c in validation.get("checks", []) if c["set_aside"] or c["note"]],
        f"- test/val/train {unit}: {counts['test']} / {counts['val']} / {counts['train']} "
        "(scaling fitted on train only; checkpoints chosen on val; test used once, here)",
        f"- features: {', '.join(state['columns'])}",
        *[f"- {line}" for line in notes(state, md_escape)],
        *([f"- series too short for one window (lookback + horizon), so not used: "
           f"{', '.join(map(str, state['too_short']))}"] if state.get("too_short") else []),
        "",
        f"## Leaderboard (test split, ranked by {decision['metric']}, "
        f"{'lower' if decision['lower_is_better'] else 'higher'} is better)", "",
        leaderboard_table(rows, task, decision), "",
        "Latency: median of batch-1 predictions on the CPU threads of one training process. "
        f"Every model trained with the same budget: at most {cfg.train.max_epochs} epochs, "
        f"early stopping after {cfg.train.patience} epochs without validation improvement, "
        f"seed {cfg.train.seed}.", "",
        *failed,
        "## Policy", "",
        f"- primary metric: {decision['metric']}; a model must beat the best baseline: "
        f"{cfg.promote.must_beat_baseline}",
        f"- models within {cfg.promote.tolerance:.0%} of the best count as tied; among them "
        "the one with fewer parameters, then lower latency, wins", "",
    ])
