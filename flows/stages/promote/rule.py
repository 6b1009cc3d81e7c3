"""The promotion rule: the best mean wins, unless a cheaper model is shown non-inferior within
the margin; every claim in the reason is a test that was run (paired permutation tests with
Holm's adjustment, a bootstrap bound for non-inferiority), and the reason says when the test
split is too small to tell the models apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from flows.evidence.aggregate import run_errors
from flows.evidence.bootstrap import Bootstrap
from flows.evidence.paired import detectable, holm, paired_test_runs
from flows.stages.promote.reasons import COST, p_text, reason, test_words, with_interval
from schemas.artifacts import (
    CHAMPION,
    DEFAULT_METRIC,
    LOWER_IS_BETTER,
    METRICS,
    NAIVE,
    Decision,
    Row,
)
from schemas.config import REFERENCE_LIBRARY, PromoteConfig
from schemas.errors import UsageError

DIVERGED = 10.0  # error this many times the best baseline's: the model did not learn
MIN_UNITS = 10  # fewer independent test units than this: no bound is trusted
MARGIN = {"accuracy": 0.01, "macro_f1": 0.01, "mae": 0.02, "rmse": 0.02, "smape": 0.02,
          "mase": 0.02}  # absolute for scores, a fraction of the best's value for errors
ITEM_ERROR = {"forecast": "the MASE of each non-overlapping test window of every fold",
              "classify": "0/1 misclassification of each test sequence"}


def metric_of(policy: PromoteConfig, task: str) -> tuple[str, bool]:
    """The deciding metric and whether lower is better; a UsageError for another task's."""
    metric, allowed = policy.metric or DEFAULT_METRIC[task], METRICS[task]
    if metric not in allowed:
        raise UsageError(f"promote.metric: '{metric}' is not a {task} metric; "
                         f"use one of {', '.join(allowed)}.")
    return metric, LOWER_IS_BETTER[metric]


def notes(rows: list[Row], metric: str, lower: bool) -> dict[str, str]:
    """A warning per trained model that does not beat the best naive baseline; 'diverged'
    when its error is DIVERGED times the baseline's or more (it did not learn: never promoted)."""
    sign = 1 if lower else -1
    baselines = [r for r in rows if r.kind == "baseline" and r.ok]
    if not baselines:
        return {}
    base = min(baselines, key=lambda r: sign * r.score(metric))
    out = {}
    for r in rows:
        if not r.trained or sign * r.score(metric) < sign * base.score(metric):
            continue
        ratio = r.score(metric) / base.score(metric) if lower and base.score(metric) > 0 else 0.0
        if ratio >= DIVERGED:
            out[r.model] = (f"diverged: {metric} {r.score(metric):.4g} is {ratio:,.0f}x that of "
                               f"{base.model} ({base.score(metric):.4g}); never promoted")
        else:
            out[r.model] = f"does not beat {base.model} ({metric} {base.score(metric):.4g})"
    return out


def gates_of(rows: list[Row], task: str, policy: PromoteConfig) -> list[Row]:
    """The baselines the winner must be shown better than: promote.must_beat, or the naive."""
    present = {r.model: r for r in rows
               if r.kind in ("baseline", "reference") and r.ok}
    names = policy.must_beat if policy.must_beat is not None else [
        n for n in NAIVE[task] if n in present]
    unknown = [n for n in names if n not in present]
    if unknown:
        raise UsageError(f"promote.must_beat: {', '.join(unknown)} not among this run's "
                         f"baselines ({', '.join(present) or 'none'}).")
    return [present[n] for n in names]


def _cost(row: Row, prefer: str) -> float:
    value = getattr(row, COST[prefer][0])
    return float(value) if value is not None else float("inf")


def _bound(boot: Bootstrap, cand: str, best: Row, metric: str, lower: bool,
           margin: float, level: float) -> dict[str, Any]:
    """The cheaper model's excess error over the best, its upper bound and its p-value."""
    sign = 1.0 if lower else -1.0
    excess = sign * (boot.values(cand, metric) - boot.values(best.model, metric))
    excess = excess[np.isfinite(excess)]
    width = margin * abs(best.score(metric)) if lower else margin
    return {"excess": float(np.mean(excess)), "upper": float(np.quantile(excess, 1 - level)),
            "margin": width, "p_value": float((1 + np.sum(excess >= width)) / (len(excess) + 1))}


def _power(boot: Bootstrap, top: Row, rivals: list[Row], metric: str, level: float) -> float | None:
    """The smallest difference from the closest rival the test detects with 80% power."""
    if not rivals:
        return None
    near = min(rivals, key=lambda r: abs(r.score(metric) - top.score(metric)))
    diff = boot.values(near.model, metric) - boot.values(top.model, metric)
    return detectable(float(np.nanstd(diff)), level)


def _gate(rows: list[Row], sane: list[Row], gates: list[Row], errors: dict, key: Any,
          level: float) -> tuple[list[Row], dict[str, dict[str, dict]]]:
    """Models shown better than every gate (an intersection-union test: each at `level`)."""
    tests = {m.model: {g.model: paired_test_runs(errors[g.model], errors[m.model])
                          for g in gates} for m in sane}
    ok = [m for m in sane if all(key(m) < key(g) and tests[m.model][g.model]["p_value"]
                                 <= level for g in gates)]
    return ok, tests


def _none(decision: dict, sane: list[Row], gates: list[Row], gate_tests: dict, metric: str,
          units: int) -> dict[str, Any]:
    if not sane:
        return {**decision, "reason": "Every model diverged. Nothing is promoted."}
    best = sane[0]
    said = ", ".join(f"{g.model} ({metric} {g.score(metric):.4g}, "
                     f"{p_text(gate_tests[best.model][g.model]['p_value'])})" for g in gates)
    return {**decision, "reason": (
        f"No model is shown better than every baseline in promote.must_beat: the best, "
        f"{best.model} ({metric} {best.score(metric):.4g}), against {said}, on {units} independent "
        "test units. Nothing is promoted. More test data (longer series, more sequences) or "
        "promote.must_beat: [] would change that.")}


def decide(rows: list[Row], task: str, policy: PromoteConfig, frame: pl.DataFrame) -> Decision:
    """The winner under the policy (or None), with the reason in words, true in every branch.
    `frame`: every run's per-item test errors (errors.parquet)."""
    return Decision.model_validate(_decide(rows, task, policy, frame))


def _decide(rows: list[Row], task: str, policy: PromoteConfig, frame: pl.DataFrame
            ) -> dict[str, Any]:
    metric, lower = metric_of(policy, task)
    sign = 1 if lower else -1

    def key(r: Row) -> float:
        return sign * r.score(metric)

    gates, warned = gates_of(rows, task, policy), notes(rows, metric, lower)
    margin = policy.margin or MARGIN[metric]
    decision: dict[str, Any] = {"metric": metric, "lower_is_better": lower, "winner": None,
                                "notes": warned, "level": policy.level, "prefer": policy.prefer,
                                "must_beat": [g.model for g in gates], "margin": margin}
    models = sorted((r for r in rows if r.trained), key=key)
    if not models:
        return {**decision, "reason": "No model trained successfully, so nothing is promoted."}
    errors, boot = run_errors(frame), Bootstrap(frame, task)
    base = min(gates, key=key) if gates else None
    decision |= {"best_model": models[0].model, "units": boot.n_units,
                 "best_baseline": base.model if base else None}
    sane = [r for r in models if not warned.get(r.model, "").startswith("diverged")]
    eligible, gate_tests = _gate(rows, sane, gates, errors, key, policy.level)
    if not eligible:
        return _none(decision, sane, gates, gate_tests, metric, boot.n_units)
    top = eligible[0]
    tests = {r.model: paired_test_runs(errors[r.model], errors[top.model])
             for r in rows if r.ok and r is not top and r.model in errors
             and r.kind != CHAMPION}
    for name, p in holm({n: t["p_value"] for n, t in tests.items()}).items():
        tests[name]["p_holm"] = p
    decided = _choose(decision, top, eligible, tests, boot, policy, (gates, gate_tests))
    winner = next(r for r in eligible if r.model == decided["winner"])
    return decided | {"tests": tests, "references": references(winner, rows, errors, metric,
                                                                sign),
                      **beaten_by(winner, rows, errors, metric, sign, policy.level)}


def _choose(decision: dict, top: Row, eligible: list[Row], tests: dict, boot: Bootstrap,
            policy: PromoteConfig, gated: tuple[list[Row], dict]) -> dict[str, Any]:
    """Best mean, or the cheapest model shown non-inferior; the rule and the reason."""
    metric, lower, level = decision["metric"], decision["lower_is_better"], policy.level
    rivals = [r for r in eligible if r is not top]
    close = [r for r in rivals if tests[r.model]["p_holm"] > level]
    cheaper = [r for r in rivals if _cost(r, policy.prefer) < _cost(top, policy.prefer)]
    bounds = {r.model: _bound(boot, r.model, top, metric, lower, decision["margin"], level)
              for r in cheaper}
    for name, p in holm({n: b["p_value"] for n, b in bounds.items()}).items():
        bounds[name] |= {"p_holm": p, "shown": p <= level and boot.n_units >= MIN_UNITS}
    shown = [r for r in cheaper if bounds[r.model]["shown"]]
    winner = min(shown, key=lambda r: _cost(r, policy.prefer)) if shown else top
    rule = "non_inferior" if shown else ("cannot_tell" if close else "better")
    power = _power(boot, top, rivals, metric, level)
    decided = {**decision, "winner": winner.model, "rule": rule, "bounds": bounds,
               "tied": [top.model] + [r.model for r in close], "detectable": power}
    return decided | {"reason": reason(decided, top, winner, rivals, tests, *gated,
                                       boot.n_units, MIN_UNITS, ITEM_ERROR[boot.task])}


def references(winner: Row, rows: list[Row], errors: dict[str, list[np.ndarray]],
               metric: str, sign: int) -> dict[str, str]:
    """Whether the winner beats each reference baseline (means), and whether significantly."""
    out = {}
    for r in rows:
        if r.kind != "reference":
            continue
        if not r.ok or r.model not in errors:
            out[r.model] = f"{r.model} was not run: {r.note or r.status}"
            continue
        t = paired_test_runs(errors[r.model], errors[winner.model])
        beats = sign * winner.score(metric) < sign * r.score(metric)
        out[r.model] = (f"{winner.model} {'beats' if beats else 'does NOT beat'} "
                           f"{r.model} on the mean ({metric} {winner.score(metric):.4g} vs "
                           f"{r.score(metric):.4g}); one-sided test that {r.model} errs more: "
                           f"{test_words(t)}")
    return out


def beaten_by(winner: Row, rows: list[Row], errors: dict[str, list[np.ndarray]], metric: str,
              sign: int, level: float) -> dict[str, Any]:
    """The references shown better than the winner (paired tests that the winner errs more,
    Holm-adjusted over the references, at `level`), best first, and the headline naming the
    best of them: seqarena promotes networks only, so the person is told what beats it."""
    refs = [r for r in rows if r.kind == "reference" and r.ok and r.model in errors
            and sign * r.score(metric) < sign * winner.score(metric)]
    tests = {r.model: paired_test_runs(errors[winner.model], errors[r.model]) for r in refs}
    adjusted = holm({n: t["p_value"] for n, t in tests.items()})
    better = sorted((r for r in refs if adjusted[r.model] <= level),
                    key=lambda r: sign * r.score(metric))
    if not better:
        return {"beaten_by": [], "headline": None}
    best = better[0]
    cost = (f"; it took {best.train_seconds:.3g} s to fit and predict per fold"
            if best.train_seconds is not None else "")
    head = (f"A reference beats the networks: {best.model} "
            f"({REFERENCE_LIBRARY.get(best.model, 'reference')}) reaches {metric} "
            f"{with_interval(best, metric)}; the best network by the rule, {winner.model}, "
            f"{with_interval(winner, metric)} (paired permutation test that {winner.model} "
            f"errs more, Holm {p_text(adjusted[best.model])}){cost}. seqarena promotes networks "
            f"only: consider {best.model} for this data.")
    return {"beaten_by": [r.model for r in better], "headline": head}


def against_champion(decided: Decision, rows: list[Row], holdout: dict[str, list[np.ndarray]],
                     policy: PromoteConfig, version: str | None) -> Decision:
    """The challenger (the decision's winner) replaces the champion `version` only if a paired
    test on this run's holdout test items finds the champion worse at policy.level; a
    champion that cannot score this data is replaced or kept as policy.unscorable says."""
    return Decision.model_validate(_challenge(decided.model_dump(), rows, holdout, policy,
                                              version))


def _challenge(decision: dict[str, Any], rows: list[Row], holdout: dict[str, list[np.ndarray]],
               policy: PromoteConfig, version: str | None) -> dict[str, Any]:
    row = next((r for r in rows if r.kind == CHAMPION), None)
    winner = decision["winner"]
    outcome = "promoted" if winner else "none"
    if version is None or row is None or not policy.challenge:
        return {**decision, "outcome": outcome}
    decision = {**decision, "champion": version}
    if winner is None:
        return {**decision, "outcome": "kept",
                "reason": f"{decision['reason']} The champion {version} stays."}
    if not row.ok:
        keep = policy.unscorable == "keep"
        verb = "keeps it" if keep else f"promotes {winner} in its place"
        reason = (f"{decision['reason']} {row.note[0].upper()}{row.note[1:]}; "
                  f"promote.unscorable is '{policy.unscorable}', which {verb}.")
        if keep:
            return {**decision, "outcome": "kept", "winner": None, "challenger": winner,
                    "reason": reason}
        return {**decision, "outcome": "promoted", "reason": reason}
    t = paired_test_runs(holdout[CHAMPION], holdout[winner])
    metric = decision["metric"]
    ours = next(r for r in rows if r.model == winner)
    said = (f"{winner} ({metric} {ours.score(metric):.4g}) against the champion {version} "
            f"({row.score(metric):.4g}) on this run's holdout test items: one-sided test that the "
            f"champion errs more, {test_words(t)}")
    decision = {**decision, "champion_test": t, "challenger": winner}
    if t["p_value"] <= policy.level:
        return {**decision, "outcome": "promoted",
                "reason": f"{decision['reason']} {said}, so {winner} replaces it."}
    return {**decision, "outcome": "kept", "winner": None,
            "reason": f"{decision['reason'].replace(' is promoted', ' is the best challenger')}"
                      f" {said}: not significant at level {policy.level}, so the champion "
                      f"{version} stays."}


