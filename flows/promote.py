"""Stage `promote`: apply the promotion policy, write the promoted artifact and the report."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from flows.errors import RunFailedError, UsageError
from flows.evaluate import DEFAULT_METRIC, LOWER_IS_BETTER, METRICS
from flows.io import read_json, write_json, write_text
from flows.layout import Layout
from flows.report import render_report
from schemas.config import Config, PromoteConfig

ARTIFACT_FILES = ("weights.safetensors", "model.json")


def swap_dir(new: Path, target: Path) -> None:
    """Replace `target` by the complete folder `new`: a crash leaves the old or the new one."""
    old = target.with_name(f".{target.name}-old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)


def _metric(policy: PromoteConfig, task: str) -> tuple[str, bool]:
    metric, allowed = policy.metric or DEFAULT_METRIC[task], METRICS[task]
    if metric not in allowed:
        raise UsageError(f"promote.metric: '{metric}' is not a {task} metric; "
                         f"use one of {', '.join(allowed)}.")
    return metric, LOWER_IS_BETTER[metric]


def decide(rows: list[dict[str, Any]], task: str, policy: PromoteConfig) -> dict[str, Any]:
    """The winner under the policy (or None), with the reason in words."""
    metric, lower = _metric(policy, task)
    sign = 1 if lower else -1

    def key(r: dict[str, Any]) -> float:
        return sign * r[metric]

    models = [r for r in rows if r["kind"] == "model" and r["status"] == "ok"]
    baselines = [r for r in rows if r["kind"] == "baseline"]
    decision: dict[str, Any] = {"metric": metric, "lower_is_better": lower, "winner": None}
    if not models:
        return {**decision, "reason": "No model trained successfully, so nothing is promoted."}
    best = min(models, key=key)
    base = min(baselines, key=key)
    decision.update(best_model=best["model"], best_baseline=base["model"])
    beaten = [r for r in models if key(r) < key(base)] if policy.must_beat_baseline else models
    if not beaten:
        return {**decision, "reason": (
            f"No model beats the best baseline: {best['model']} has {metric} "
            f"{best[metric]:.4g}, {base['model']} has {base[metric]:.4g}. Nothing is promoted.")}
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
    reason += f". It beats the best baseline, {base['model']} ({base[metric]:.4g})."
    return {**decision, "winner": winner["model"], "tied": [r["model"] for r in tied],
            "reason": reason}


def promote(cfg: Config) -> dict[str, Any]:
    """Decide, write promoted/ (model + preprocessing state + decision) and report.md."""
    layout = Layout(Path(cfg.out_dir))
    state = read_json(layout.state)
    rows = [{"model": name, **r} for name, r in read_json(layout.metrics)["models"].items()]
    decision = decide(rows, state["task"], cfg.promote)
    new = Path(tempfile.mkdtemp(dir=layout.root, prefix=".promoted-"))
    if decision["winner"]:
        for name in ARTIFACT_FILES:
            shutil.copy2(layout.model_dir(decision["winner"]) / name, new / name)
        write_json(new / "preprocessing.json", state)
    write_json(new / "decision.json", decision)
    swap_dir(new, layout.promoted)
    validation = read_json(layout.validation)
    write_text(layout.report, render_report(cfg, state, validation, rows, decision))
    if not any(r["kind"] == "model" and r["status"] == "ok" for r in rows):
        raise RunFailedError(f"every model failed to train; see {layout.report}.")
    return decision
