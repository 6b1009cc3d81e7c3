"""Stage `promote`: apply the promotion policy, write the promoted artifact and the report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flows.report import render_report
from modules.budget import Budget
from schemas.artifacts import (
    DEFAULT_METRIC,
    LOWER_IS_BETTER,
    METRICS,
    Decision,
    Metrics,
    ModelCard,
    read,
    read_state,
    read_validation,
    write,
)
from schemas.config import Config, PromoteConfig
from schemas.errors import RunFailedError, UsageError
from schemas.files import make_temp_dir, write_text
from schemas.layout import DECISION, MODEL_CARD, PREPROCESSING, WEIGHTS, Layout

ARTIFACT_FILES = (WEIGHTS, MODEL_CARD)
DIVERGED = 10.0  # error this many times the best baseline's: the model did not learn


def replace_dir(new: Path, target: Path) -> None:
    """Put the complete folder `new` at `target` (for `seqarena stage promote`, where DVC
    has removed the old one; compare runs write into a fresh run folder)."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    new.rename(target)


def _metric(policy: PromoteConfig, task: str) -> tuple[str, bool]:
    metric, allowed = policy.metric or DEFAULT_METRIC[task], METRICS[task]
    if metric not in allowed:
        raise UsageError(f"promote.metric: '{metric}' is not a {task} metric; "
                         f"use one of {', '.join(allowed)}.")
    return metric, LOWER_IS_BETTER[metric]


def notes(rows: list[dict[str, Any]], metric: str, lower: bool) -> dict[str, str]:
    """A warning per trained model that does not beat the best baseline; 'diverged' when
    its error is DIVERGED times the baseline's or more (it did not learn: never promoted)."""
    sign = 1 if lower else -1
    baselines = [r for r in rows if r["kind"] == "baseline" and r["status"] == "ok"]
    if not baselines:
        return {}
    base = min(baselines, key=lambda r: sign * r[metric])
    out = {}
    for r in rows:
        if r["kind"] != "model" or r["status"] != "ok" or sign * r[metric] < sign * base[metric]:
            continue
        ratio = r[metric] / base[metric] if lower and base[metric] > 0 else 0.0
        if ratio >= DIVERGED:
            out[r["model"]] = (f"diverged: {metric} {r[metric]:.4g} is {ratio:,.0f}x that of "
                               f"{base['model']} ({base[metric]:.4g}); never promoted")
        else:
            out[r["model"]] = f"does not beat {base['model']} ({metric} {base[metric]:.4g})"
    return out


def decide(rows: list[dict[str, Any]], task: str, policy: PromoteConfig) -> dict[str, Any]:
    """The winner under the policy (or None), with the reason in words, true in every branch."""
    metric, lower = _metric(policy, task)
    sign = 1 if lower else -1

    def key(r: dict[str, Any]) -> float:
        return sign * r[metric]

    warned = notes(rows, metric, lower)
    models = [r for r in rows if r["kind"] == "model" and r["status"] == "ok"]
    baselines = [r for r in rows if r["kind"] == "baseline"]
    decision: dict[str, Any] = {"metric": metric, "lower_is_better": lower, "winner": None,
                                "notes": warned}
    if not models:
        return {**decision, "reason": "No model trained successfully, so nothing is promoted."}
    best = min(models, key=key)
    base = min(baselines, key=key)
    decision.update(best_model=best["model"], best_baseline=base["model"])
    sane = [r for r in models if not warned.get(r["model"], "").startswith("diverged")]
    beaten = [r for r in sane if key(r) < key(base)] if policy.must_beat_baseline else sane
    if not beaten:
        why = ("every model diverged" if not sane else f"no model beats the best baseline: "
               f"{best['model']} has {metric} {best[metric]:.4g}, {base['model']} has "
               f"{base[metric]:.4g}")
        return {**decision, "reason": f"{why[0].upper()}{why[1:]}. Nothing is promoted."}
    top = min(beaten, key=key)
    margin = policy.tolerance * abs(top[metric])
    tied = [r for r in beaten if abs(r[metric] - top[metric]) <= margin]
    winner = min(tied, key=lambda r: (r["params"], r["latency_ms"]))
    reason = f"{top['model']} has the best {metric} ({top[metric]:.4g})"
    if winner is not top:
        reason += (f"; {winner['model']} ({winner[metric]:.4g}) is within the "
                   f"{policy.tolerance:.0%} tolerance and is cheaper ({winner['params']:,} "
                   f"parameters vs {top['params']:,}), so {winner['model']} is promoted")
    else:
        reason += ", so it is promoted"
    if key(winner) < key(base):
        reason += f". It beats the best baseline, {base['model']} ({base[metric]:.4g})."
    else:
        reason += (f". It does NOT beat the best baseline, {base['model']} "
                   f"({base[metric]:.4g}); it is promoted only because "
                   "promote.must_beat_baseline is false.")
    return {**decision, "winner": winner["model"], "tied": [r["model"] for r in tied],
            "reason": reason}


def _budget(layout: Layout, rows: list[dict[str, Any]]) -> str:
    """The training budget in words, from a trained model's card (every model had it)."""
    trained = [r["model"] for r in rows if r["kind"] == "model" and r["status"] == "ok"]
    if not trained:
        return "no model trained"
    return Budget(**read(ModelCard, layout.card(trained[0])).budget).describe()


def promote(cfg: Config) -> dict[str, Any]:
    """Decide, write promoted/ (model + preprocessing state + decision) and report.md."""
    layout = Layout(Path(cfg.out_dir))
    state = read_state(layout)
    rows = read(Metrics, layout.metrics).rows()
    decision = Decision.model_validate(decide(rows, state.task, cfg.promote))
    new = make_temp_dir(layout.root, ".promoted-")
    if decision.winner:
        for name in ARTIFACT_FILES:
            shutil.copy2(layout.model_dir(decision.winner) / name, new / name)
        write(new / PREPROCESSING, state)
    write(new / DECISION, decision)
    replace_dir(new, layout.promoted)
    write(layout.decision, decision)
    report = render_report(cfg, state, read_validation(layout), rows, decision,
                           _budget(layout, rows))
    write_text(layout.report, report)
    if not any(r["kind"] == "model" and r["status"] == "ok" for r in rows):
        raise RunFailedError(f"every model failed to train; see {layout.report}.")
    return decision.model_dump(mode="json")
