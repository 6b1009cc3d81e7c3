"""The verdict on each folklore claim of "your data, measured", from this run's own runs:
*holds*, *does not hold* or *cannot tell*, each by a rule stated in its words. Accuracy claims
use the paired permutation test of the decision (Holm-adjusted over the claim's two
directions); speed, time and memory claims use the per-run figures (every seed and fold):
a claim holds only when every run of one model lies on its side of every run of the other."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flows.evidence.aggregate import Scored
from flows.evidence.paired import holm, paired_test_runs
from schemas.artifacts import ModelCard, Row

HOLDS, FAILS = "holds", "does not hold"
RECURRENT = ("rnn", "lstm", "gru", "hybrid")
FOLKLORE = (*RECURRENT, "transformer", "cnn")  # the families the usual claims compare;
# `linear` only meets them in its own row (it is trivially the fastest and lightest)


def per_run(runs: list[Scored], value: Callable[[ModelCard], float | None]
            ) -> dict[str, list[float]]:
    """Each trained model's figure on each of its runs (seed x fold), from its cards."""
    out: dict[str, list[float]] = {}
    for r in runs:
        figure = value(r.card) if r.kind == "model" and r.card else None
        if figure is not None:
            out.setdefault(r.name, []).append(float(figure))
    return out


def _below(values: dict[str, list[float]], low: str, high: str, unit: str
           ) -> tuple[bool | None, str]:
    """Is every run of `low` below every run of `high` (True), every one above (False), or do
    they overlap (None)? With the ranges in words."""
    a, b = values[low], values[high]
    said = (f"{low} {min(a):.3g}-{max(a):.3g}{unit}, {high} {min(b):.3g}-{max(b):.3g}{unit} "
            "over runs")
    if max(a) < min(b):
        return True, said
    return (False, said) if min(a) > max(b) else (None, said)


def _missing(names: set[str], *needed: str) -> str | None:
    """The words when a claim's models are not in this run."""
    gone = [n for n in needed if n not in names]
    return f"cannot tell: needs {', '.join(gone)} in the run" if gone else None


def _join(parts: list[tuple[bool | None, str]]) -> str:
    """Several sub-claims: all hold, any fails, or cannot tell; with every part's figures."""
    words = "; ".join(s for _, s in parts)
    if any(v is False for v, _ in parts):
        return f"{FAILS} ({words})"
    if all(v is True for v, _ in parts):
        return f"{HOLDS} ({words})"
    return f"cannot tell: runs overlap ({words})"


def _order(values: dict[str, list[float]], low: str, high: str, unit: str) -> str:
    """Verdict on `low` below `high` by the per-run rule."""
    return _missing(set(values), low, high) or _join([_below(values, low, high, unit)])


def _lowest(values: dict[str, list[float]], name: str, unit: str, highest: bool = False
            ) -> tuple[bool | None, str]:
    """Is `name` below (or above, `highest`) every other model on every run?"""
    others = [m for m in values if m != name]
    if not others:
        return None, f"{name} is the only model"
    found = [_below(values, m, name, unit) if highest else _below(values, name, m, unit)
             for m in others]
    if all(v is True for v, _ in found):
        return True, f"{name} {'above' if highest else 'below'} every other model on every run"
    if any(v is False for v, _ in found):
        return False, "; ".join(s for v, s in found if v is False)
    return None, "; ".join(s for v, s in found if v is None)


def _paired(errors: dict[str, list[np.ndarray]], a: str, b: str, level: float
            ) -> tuple[str | None, str]:
    """Both one-sided paired tests of a and b, Holm-adjusted: the model shown better (or
    None) and the p-values in words."""
    p = holm({f"{b} better": paired_test_runs(errors[a], errors[b])["p_value"],
              f"{a} better": paired_test_runs(errors[b], errors[a])["p_value"]})
    said = ", ".join(f"{k} Holm p = {v:.2g}" for k, v in p.items())
    better = next((k.split()[0] for k, v in p.items() if v <= level), None)
    return better, f"paired permutation tests: {said}"


def _similar(errors: dict[str, list[np.ndarray]], a: str, b: str, level: float) -> str:
    """'a and b are similar': does not hold when either is shown better; else cannot tell
    (no difference shown is not a shown similarity)."""
    if missing := _missing(set(errors), a, b):
        return missing
    better, said = _paired(errors, a, b, level)
    if better:
        return f"{FAILS}: {better} is better ({said})"
    return f"cannot tell at level {level:g}: no difference shown ({said})"


def _beats(errors: dict[str, list[np.ndarray]], rows: list[Row], family: tuple[str, ...],
           other: str, metric: str, lower: bool, level: float) -> str:
    """'The family's best beats `other`': holds when shown better, does not hold when `other`
    is shown better, else cannot tell."""
    mine = [r for r in rows if r.model in family and r.trained and r.model in errors]
    if (missing := _missing(set(errors), other)) or not mine:
        return missing or f"cannot tell: needs one of {', '.join(family)} in the run"
    best = min(mine, key=lambda r: r.score(metric) if lower else -r.score(metric)).model
    better, said = _paired(errors, best, other, level)
    verdict = HOLDS if better == best else FAILS if better == other else \
        f"cannot tell at level {level:g}"
    return f"{verdict}: best of them {best} against {other} ({said})"


def tuning_changed(errors: dict[str, list[np.ndarray]],
                   untuned: dict[str, list[np.ndarray]], level: float) -> str:
    """Did tuning change the GRU/LSTM verdict? The paired tests of the tuned runs against
    those of the untuned defaults (train.tune.compare_untuned): which is shown better, or
    neither, in each."""
    if missing := _missing(set(errors) & set(untuned), "lstm", "gru"):
        return missing
    before, said_before = _paired(untuned, "lstm", "gru", level)
    after, said_after = _paired(errors, "lstm", "gru", level)

    def words(better: str | None) -> str:
        return f"{better} better" if better else f"no difference shown at level {level:g}"

    return (f"{'unchanged' if before == after else 'changed'}: untuned {words(before)} "
            f"({said_before}); tuned {words(after)} ({said_after})")


def _parameters(rows: list[Row]) -> str:
    """GRU vs LSTM parameters at the same width (the sizes chosen here are matched)."""
    width = {r.model: r.params_equal_width for r in rows if r.params_equal_width}
    if missing := _missing(set(width), "gru", "lstm"):
        return missing
    g, ell = width["gru"], width["lstm"]
    return f"{HOLDS if g < ell else FAILS} (at width 64: gru {g:,}, lstm {ell:,})"


def _latency_in(rows: list[Row], onnx: bool) -> str:
    """Transformer slowest at batch 1 in one engine: its p50 above every other model's p95
    (holds), or some model's p50 above its p95 (does not hold), from one measurement each."""
    def p50(r: Row) -> float | None:
        return r.onnx_latency_ms if onnx else r.latency_ms

    def p95(r: Row) -> float | None:
        return (r.onnx_latency_p95_ms if onnx else r.latency_p95_ms) or p50(r)

    timed = {r.model: r for r in rows if r.trained and p50(r) is not None}
    if (missing := _missing(set(timed), "transformer")) or len(timed) < 2:
        return missing or "cannot tell: needs another model"
    t, others = timed.pop("transformer"), list(timed.values())
    slower = [r.model for r in others if p50(r) > p95(t)]
    if slower:
        return f"{FAILS}: p50 of {', '.join(slower)} above the transformer's p95"
    if all(p50(t) > p95(r) for r in others):
        return f"{HOLDS}: the transformer's p50 above every other model's p95"
    return "cannot tell: its p50/p95 overlap another model's"


def _latency(rows: list[Row]) -> str:
    """The latency claim in PyTorch and, when measured, in ONNX Runtime (a deployed runtime)."""
    torch_verdict = _latency_in(rows, onnx=False)
    if not any(r.onnx_latency_ms is not None for r in rows):
        return torch_verdict
    return f"PyTorch: {torch_verdict}; ONNX Runtime: {_latency_in(rows, onnx=True)}"


def _throughput(rows: list[Row]) -> str:
    """Transformer fastest at large batch: one measurement of each model, alone."""
    timed = {r.model: r.throughput_per_s for r in rows if r.trained and r.throughput_per_s}
    if (missing := _missing(set(timed), "transformer")) or len(timed) < 2:
        return missing or "cannot tell: needs another model"
    top = max(timed, key=lambda m: timed[m])
    return (f"{HOLDS if top == 'transformer' else FAILS} (one measurement each: fastest {top}, "
            f"{timed[top]:,.0f} items/s)")


def verdicts(rows: list[Row], runs: list[Scored], errors: dict[str, list[np.ndarray]],
             metric: str, lower: bool, level: float) -> list[str]:
    """One verdict per claim of measured.CLAIMS, in its order."""
    deep = [r for r in runs if r.name in FOLKLORE]
    ms = per_run(deep, lambda c: c.ms_per_step)
    best = per_run(deep, lambda c: c.best_step * c.ms_per_step / 1000)
    memory = per_run(deep, lambda c: c.peak_rss_mib)
    timed = [r for r in rows if r.model in FOLKLORE]
    speed = _missing(set(ms), "gru", "lstm", "rnn") or _join(
        [_below(ms, "gru", "lstm", " ms"), _lowest(ms, "rnn", " ms")])
    heavy = _missing(set(memory), "gru", "lstm", "transformer") or _join(
        [_below(memory, "gru", "lstm", " MiB"), _lowest(memory, "transformer", " MiB", True)])
    return [_parameters(rows), speed, _order(best, "gru", "lstm", " s"), heavy, _latency(timed),
            _throughput(timed),
            "cannot tell: no test of it here (the cells show the error by horizon step or by "
            "sequence length)",
            _similar(errors, "lstm", "gru", level) + "; the data-size part is not tested",
            _beats(errors, rows, RECURRENT, "cnn", metric, lower, level),
            _beats(errors, rows, FOLKLORE, "linear", metric, lower, level)]
