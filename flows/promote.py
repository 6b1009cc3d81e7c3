"""Stage `promote`: apply the promotion policy, write the promoted artifact and the report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from flows.aggregate import run_errors
from flows.evidence import paired_test_runs
from flows.review import write_reports
from schemas.artifacts import (
    CHAMPION,
    DEFAULT_METRIC,
    LOWER_IS_BETTER,
    METRICS,
    NAIVE,
    Decision,
    Metrics,
    read,
    read_state,
    write,
)
from schemas.config import Config, PromoteConfig
from schemas.errors import RunFailedError, UsageError
from schemas.files import make_temp_dir
from schemas.layout import DECISION, MODEL_CARD, PREPROCESSING, WEIGHTS, Job, Layout

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
    """A warning per trained model that does not beat the best naive baseline; 'diverged'
    when its error is DIVERGED times the baseline's or more (it did not learn: never promoted)."""
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


def _gates(rows: list[dict[str, Any]], task: str, policy: PromoteConfig) -> list[dict[str, Any]]:
    """The baselines the winner must beat: promote.must_beat, or the naive ones."""
    present = {r["model"]: r for r in rows
               if r["kind"] in ("baseline", "reference") and r["status"] == "ok"}
    names = policy.must_beat if policy.must_beat is not None else [
        n for n in NAIVE[task] if n in present]
    unknown = [n for n in names if n not in present]
    if unknown:
        raise UsageError(f"promote.must_beat: {', '.join(unknown)} not among this run's "
                         f"baselines ({', '.join(present) or 'none'}).")
    return [present[n] for n in names]


ITEM_ERROR = {"forecast": "the MASE of each non-overlapping test window of every fold",
              "classify": "0/1 misclassification of each test sequence"}


def _p(t: dict[str, Any]) -> str:
    """A p-value as printed: its floor is 1/(resamples+1) unless the test was exact."""
    return f"p = {t['p_value']:.2g}" if t["p_value"] > 1e-4 else "p <= 0.0001"


def _test_words(t: dict[str, Any]) -> str:
    pairs = f", least significant of {t['pairs']} seed pairings" if t.get("pairs", 1) > 1 else ""
    return f"paired permutation test on {t['n']} test items{pairs}, {_p(t)}"


def _cheaper(winner: dict[str, Any], top: dict[str, Any]) -> str:
    if winner["params"] < top["params"]:
        return f"fewer parameters ({winner['params']:,} vs {top['params']:,})"
    return (f"as many parameters and a lower latency ({winner.get('latency_ms') or 0:.3g} ms "
            f"vs {top.get('latency_ms') or 0:.3g} ms)")


def _pick(top: dict[str, Any], eligible: list[dict[str, Any]], tests: dict[str, dict],
          level: float, metric: str) -> tuple[dict[str, Any], list[str], str]:
    """The cheapest model not significantly worse than the best, the tied, and why."""
    tied = [top] + [r for r in eligible if r is not top and tests[r["model"]]["p_value"] > level]
    winner = min(tied, key=lambda r: (r["params"], r.get("latency_ms") or 0.0))
    reason = f"{top['model']} has the best mean {metric} ({_with_interval(top, metric)})"
    if winner is not top:
        t = tests[winner["model"]]
        reason += (f"; {winner['model']} ({_with_interval(winner, metric)}) is not "
                   f"significantly worse at level {level} ({_test_words(t)}) and has "
                   f"{_cheaper(winner, top)}, so {winner['model']} is promoted")
    else:
        worse = [r["model"] for r in eligible if r is not top and r not in tied]
        close = [r for r in tied if r is not top]
        reason += "".join(
            f"; {r['model']} is not significantly worse ({_test_words(tests[r['model']])}) "
            "but not cheaper" for r in close)
        reason += ", so it is promoted"
        if worse:
            ps = ", ".join(f"{w} {_p(tests[w])}" for w in worse)
            reason += (f" (significantly better than {', '.join(worse)} at level {level}: "
                       f"{_test_words(tests[worse[0]]).split(',')[0]}; {ps})")
    return winner, [r["model"] for r in tied], reason


def _with_interval(row: dict[str, Any], metric: str) -> str:
    ci = (row.get("interval") or {}).get(metric) or {}
    if ci.get("lo") is None:
        return f"{row[metric]:.4g}"
    return f"{row[metric]:.4g}, 95% interval {ci['lo']:.4g} to {ci['hi']:.4g}"


def _references(winner: dict[str, Any], rows: list[dict[str, Any]],
                errors: dict[str, list[np.ndarray]], metric: str, sign: int) -> dict[str, str]:
    """Whether the winner beats each reference baseline (means), and whether significantly."""
    out = {}
    for r in rows:
        if r["kind"] != "reference":
            continue
        if r["status"] != "ok" or r["model"] not in errors:
            out[r["model"]] = f"{r['model']} was not run: {r.get('note') or r['status']}"
            continue
        t = paired_test_runs(errors[r["model"]], errors[winner["model"]])
        beats = sign * winner[metric] < sign * r[metric]
        out[r["model"]] = (f"{winner['model']} {'beats' if beats else 'does NOT beat'} "
                           f"{r['model']} on the mean ({metric} {winner[metric]:.4g} vs "
                           f"{r[metric]:.4g}); one-sided test that {r['model']} errs more: "
                           f"{_test_words(t)}")
    return out


def _ungated(winner: dict[str, Any], rows: list[dict[str, Any]], metric: str,
             key: Any) -> str:
    """The reason's end when promote.must_beat is empty: true whether or not it beats them."""
    naive = [r for r in rows if r["kind"] == "baseline" and r["status"] == "ok"]
    if not naive:
        return ". promote.must_beat is empty, so no baseline gates it."
    base = min(naive, key=key)
    if key(winner) < key(base):
        return f". It beats the best baseline, {base['model']} ({base[metric]:.4g})."
    return (f". It does NOT beat the best baseline, {base['model']} ({base[metric]:.4g}); it "
            "is promoted only because promote.must_beat is empty.")


def decide(rows: list[dict[str, Any]], task: str, policy: PromoteConfig,
           errors: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """The winner under the policy (or None), with the reason in words, true in every branch.
    `errors`: each model's and baseline's per-item test errors on common items."""
    metric, lower = _metric(policy, task)
    sign = 1 if lower else -1

    def key(r: dict[str, Any]) -> float:
        return sign * r[metric]

    gates = _gates(rows, task, policy)
    warned = notes(rows, metric, lower)
    models = [r for r in rows if r["kind"] == "model" and r["status"] == "ok"]
    decision: dict[str, Any] = {"metric": metric, "lower_is_better": lower, "winner": None,
                                "notes": warned, "level": policy.level,
                                "must_beat": [g["model"] for g in gates]}
    if not models:
        return {**decision, "reason": "No model trained successfully, so nothing is promoted."}
    best = min(models, key=key)
    base = min(gates, key=key) if gates else None
    decision.update(best_model=best["model"], best_baseline=base["model"] if base else None)
    sane = [r for r in models if not warned.get(r["model"], "").startswith("diverged")]
    eligible = [r for r in sane if all(key(r) < key(g) for g in gates)]
    if not eligible:
        why = ("every model diverged" if not sane else f"no model beats every baseline in "
               f"promote.must_beat: {best['model']} has {metric} {best[metric]:.4g}, "
               f"{base['model']} has {base[metric]:.4g}")  # type: ignore[index]
        return {**decision, "reason": f"{why[0].upper()}{why[1:]}. Nothing is promoted."}
    top = min(eligible, key=key)
    others = [r for r in rows if r["status"] == "ok" and r is not top and r["model"] in errors
              and r["kind"] != CHAMPION]
    tests = {r["model"]: paired_test_runs(errors[r["model"]], errors[top["model"]])
             for r in others}
    winner, tied, reason = _pick(top, eligible, tests, policy.level, metric)
    if base:
        reason += (f". It beats {', '.join(g['model'] for g in gates)} (best: {base['model']}, "
                   f"{metric} {base[metric]:.4g}).")
    else:
        reason += _ungated(winner, rows, metric, key)
    reason += f" The tests compare {ITEM_ERROR[task]}."
    return {**decision, "winner": winner["model"], "tied": tied, "reason": reason,
            "tests": tests, "references": _references(winner, rows, errors, metric, sign)}


def against_champion(decision: dict[str, Any], rows: list[dict[str, Any]],
                     holdout: dict[str, list[np.ndarray]], policy: PromoteConfig,
                     version: str | None) -> dict[str, Any]:
    """The challenger (the decision's winner) replaces the champion `version` only if a paired
    test on this run's holdout test items finds the champion worse at policy.level; a
    champion that cannot score this data is replaced or kept as policy.unscorable says."""
    row = next((r for r in rows if r["kind"] == CHAMPION), None)
    winner = decision["winner"]
    outcome = "promoted" if winner else "none"
    if version is None or row is None or not policy.challenge:
        return {**decision, "outcome": outcome}
    decision = {**decision, "champion": version}
    if winner is None:
        return {**decision, "outcome": "kept",
                "reason": f"{decision['reason']} The champion {version} stays."}
    if row["status"] != "ok":
        keep = policy.unscorable == "keep"
        verb = "keeps it" if keep else f"promotes {winner} in its place"
        reason = (f"{decision['reason']} {row['note'][0].upper()}{row['note'][1:]}; "
                  f"promote.unscorable is '{policy.unscorable}', which {verb}.")
        if keep:
            return {**decision, "outcome": "kept", "winner": None, "challenger": winner,
                    "reason": reason}
        return {**decision, "outcome": "promoted", "reason": reason}
    t = paired_test_runs(holdout[CHAMPION], holdout[winner])
    metric = decision["metric"]
    ours = next(r for r in rows if r["model"] == winner)
    said = (f"{winner} ({metric} {ours[metric]:.4g}) against the champion {version} "
            f"({row[metric]:.4g}) on this run's holdout test items: one-sided test that the "
            f"champion errs more, {_test_words(t)}")
    decision = {**decision, "champion_test": t, "challenger": winner}
    if t["p_value"] <= policy.level:
        return {**decision, "outcome": "promoted",
                "reason": f"{decision['reason']} {said}, so {winner} replaces it."}
    return {**decision, "outcome": "kept", "winner": None,
            "reason": f"{decision['reason'].replace(' is promoted', ' is the best challenger')}"
                      f" {said}: not significant at level {policy.level}, so the champion "
                      f"{version} stays."}


def promote(cfg: Config) -> dict[str, Any]:
    """Decide, write promoted/ (model + preprocessing state + decision) and report.md."""
    layout = Layout(Path(cfg.out_dir))
    state = read_state(layout)
    metrics = read(Metrics, layout.metrics)
    rows = metrics.rows()
    frame = pl.read_parquet(layout.errors)
    decided = decide(rows, state.task, cfg.promote, run_errors(frame))
    holdout = run_errors(frame.filter(pl.col("fold") == 0))
    version = Path(os.path.realpath(layout.champion)).name if layout.champion.exists() else None
    decision = Decision.model_validate(against_champion(decided, rows, holdout, cfg.promote,
                                                        version))
    new = make_temp_dir(layout.root, ".promoted-")
    if decision.winner:
        kept = next(r["kept_seed"] for r in rows if r["model"] == decision.winner)
        for name in ARTIFACT_FILES:
            shutil.copy2(layout.job_dir(Job(decision.winner, kept, 0)) / name, new / name)
        write(new / PREPROCESSING, state)
    write(new / DECISION, decision)
    replace_dir(new, layout.promoted)
    write(layout.decision, decision)
    write_reports(layout)
    if not any(r["kind"] == "model" and r["status"] == "ok" for r in rows):
        raise RunFailedError(f"every model failed to train; see {layout.report}.")
    return decision.model_dump(mode="json")
