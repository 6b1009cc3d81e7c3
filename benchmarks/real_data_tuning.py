"""Issue 27's check in the real-data benchmark (`real_data.py --tune N`): each set's best
network tuned (N trials per model) beside the same models as configured, trained with the
same seeds and folds in the same compare (`seqarena compare --trials N --compare-untuned`),
with what the search cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRIC = {"classify": ("macro_f1", False), "forecast": ("mase", True)}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _models(metrics: dict[str, Any], metric: str) -> dict[str, dict[str, Any]]:
    """The trained networks' rows of a metrics.json that have the metric."""
    return {n: r for n, r in metrics["models"].items()
            if r.get("kind") == "model" and r.get("status") == "ok" and r.get(metric) is not None}


def _best(rows: dict[str, dict[str, Any]], metric: str, lower: bool) -> list[Any]:
    """[name, mean] of the best network by mean (None, None: none)."""
    if not rows:
        return [None, None]
    name = min(rows, key=lambda n: rows[n][metric] if lower else -rows[n][metric])
    return [name, rows[name][metric]]


def tuning_result(out: Path, task: str) -> dict[str, Any] | None:
    """What `--trials N --compare-untuned` measured in output folder `out` (None: it did not
    run): per model its untuned and tuned mean, parameters and trials; the best network of
    each; the GRU/LSTM verdict row; the trials' steps and seconds."""
    run = (out / "latest").resolve()
    if not (run / "untuned" / "metrics.json").exists():
        return None
    metric, lower = METRIC[task]
    tuned, untuned = _read(run / "metrics.json"), _read(run / "untuned" / "metrics.json")
    search = _read(run / "tuning" / "tuning.json")
    after, before = _models(tuned, metric), _models(untuned, metric)
    arms = {a["model"]: a for a in search["arms"]}
    models = {}
    for name in dict.fromkeys([*before, *after]):
        arm = arms.get(name, {})
        trials, runs = arm.get("trials", []), arm.get("trials", []) + arm.get("confirm", [])
        models[name] = {
            "untuned": before.get(name, {}).get(metric), "tuned": after.get(name, {}).get(metric),
            "untuned_params": before.get(name, {}).get("params"),
            "tuned_params": after.get(name, {}).get("params"),
            "train_seconds": [before.get(name, {}).get("train_seconds"),
                              after.get(name, {}).get("train_seconds")],
            "states": [t["state"] for t in trials],
            "pick": arm.get("pick"), "chosen": arm.get("best"),
            "confirm_runs": len(arm.get("confirm", [])),
            "trial_steps": sum(t.get("steps", 0) for t in runs),
            "trial_budget": sum(t.get("max_steps", 0) for t in runs),
            "trial_seconds": sum(t.get("seconds", 0.0) for t in runs)}
    row = tuned.get("measured", {}).get("tuned vs untuned", {})
    return {"metric": metric, "trials": search["trials"], "pruner": search["pruner"],
            "models": models, "best_untuned": _best(before, metric, lower),
            "best_tuned": _best(after, metric, lower), "gru_lstm": row.get("verdict")}


def _int(x: int | None) -> str:
    return "" if x is None else f"{x:,}"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _choice(m: dict[str, Any]) -> str:
    """'#pick → #chosen (runs)'; empty in results made before the confirmation runs."""
    if "pick" not in m or m["pick"] is None:
        return ""
    return f"#{m['pick']} → #{m['chosen']} ({m['confirm_runs']})"


def tuning_table(results: list[dict[str, Any]]) -> list[str]:
    """Markdown: per set, the best network untuned and tuned, the GRU/LSTM verdict, and per
    model its two scores with the search's cost."""
    done = [r for r in results if r.get("tuning")]
    if not done:
        return []
    lines = ["| set | metric | trials per model | best network untuned | best network tuned | "
             "tuned - untuned (best) | GRU/LSTM verdict | trial steps (of budget) | "
             "trial s |", "|---|---|---:|---|---|---:|---|---:|---:|"]
    for r in done:
        t = r["tuning"]
        (bu, su), (bt, st) = t["best_untuned"], t["best_tuned"]
        steps = sum(m["trial_steps"] for m in t["models"].values())
        budget = sum(m["trial_budget"] for m in t["models"].values())
        spent = sum(m["trial_seconds"] for m in t["models"].values())
        gap = f"{st - su:+.3f}" if su is not None and st is not None else ""
        verdict = (t["gru_lstm"] or "").split(":")[0]
        lines.append(f"| {r['set']} | {t['metric']} | {t['trials']} | {bu} {_num(su)} | "
                     f"{bt} {_num(st)} | {gap} | {verdict} | {steps:,} ({budget:,}) | "
                     f"{spent:,.0f} |")
    lines += ["", "Per model: untuned → tuned mean (parameters untuned → tuned; trials "
              "complete/pruned/skipped/failed; the search's pick → the trial chosen after "
              "more runs of both (train.tune.confirm_runs), with their number; trial steps "
              "and seconds include those runs):", "",
              "| set | model | untuned | tuned | parameters | trials c/p/s/f | pick → chosen "
              "(runs) | trial s |", "|---|---|---:|---:|---|---|---|---:|"]
    for r in done:
        for name, m in r["tuning"]["models"].items():
            counts = "/".join(str(m["states"].count(s))
                              for s in ("complete", "pruned", "skipped", "failed"))
            lines.append(f"| {r['set']} | {name} | {_num(m['untuned'])} | {_num(m['tuned'])} | "
                         f"{_int(m['untuned_params'])} → {_int(m['tuned_params'])} | {counts} | "
                         f"{_choice(m)} | {m['trial_seconds']:,.0f} |")
    lines += ["", "GRU/LSTM verdict: the compare's own row \"tuned vs untuned\" (the paired "
              "permutation tests of lstm against gru, Holm-adjusted, at promote.level, on the "
              "untuned runs and on the tuned runs): *changed* or *unchanged*, with the full "
              "text in the JSON."]
    return lines
