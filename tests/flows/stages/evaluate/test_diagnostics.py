"""The 'did not learn' tests: paired, on independent items, honest about tiny test sets."""

from __future__ import annotations

import numpy as np

from flows.stages.evaluate.diagnostics import better_p, diagnose, non_overlapping
from schemas.artifacts import ModelCard
from schemas.specs import RecurrentSpec


def _card(**kw: object) -> ModelCard:
    base = {"task": "forecast", "spec": RecurrentSpec(arch="gru"), "steps": 400,
            "stopped": "early_stopping", "budget": {"max_steps": 1000}}
    return ModelCard.model_validate({**base, **kw})


def test_non_overlapping_keeps_every_horizon_th_window_per_series() -> None:
    sid = np.array([0, 0, 0, 0, 1, 1, 1])
    pos = np.array([10, 11, 12, 13, 5, 6, 7])
    assert non_overlapping(sid, pos, 2).tolist() == [1, 0, 1, 0, 1, 0, 1]


def _overlapping_null(seed: int, thin: bool, horizon: int = 24, n: int = 200) -> float:
    """p for a model whose per-step errors have the baseline's distribution."""
    rng = np.random.default_rng(seed)
    a, b = rng.exponential(size=n + horizon), rng.exponential(size=n + horizon)
    model = np.convolve(a, np.ones(horizon) / horizon, "valid")[:n]  # window means
    base = np.convolve(b, np.ones(horizon) / horizon, "valid")[:n]
    keep = non_overlapping(np.zeros(n, int), np.arange(n), horizon) if thin else slice(None)
    return better_p("forecast", model[keep], base[keep])[0]


def test_thinned_windows_keep_the_false_alarm_rate_near_the_level() -> None:
    """Stride-1 windows share targets: tested as independent, an equal model looks better
    far too often; on non-overlapping windows the rate is about the 5% level."""
    raw = np.mean([_overlapping_null(s, thin=False) < 0.05 for s in range(300)])
    thinned = np.mean([_overlapping_null(s, thin=True) < 0.05 for s in range(300)])
    assert raw > 0.2 and thinned < 0.1


def test_mcnemar_counts_only_the_sequences_one_of_the_two_gets_wrong() -> None:
    model = np.array([0.0] * 8 + [1.0] * 40)  # right on 8 where the baseline is wrong
    base = np.array([1.0] * 8 + [1.0] * 40)
    p, differ = better_p("classify", model, base)
    assert differ == 8 and p == 0.5**8
    assert better_p("classify", base, base) == (1.0, 0)


def test_tiny_test_sets_are_not_blamed_on_the_model() -> None:
    card = _card()
    model, base = np.array([0.1, 0.2, 0.3]), np.array([1.0, 1.0, 1.0])
    assert diagnose("forecast", card, model, base, "naive") is None  # 3 items cannot tell


def test_nan_errors_and_early_stops_are_flagged_with_the_right_advice() -> None:
    card = _card()
    model = np.array([np.nan] + [0.5] * 30)
    why = diagnose("forecast", card, model, np.ones(31), "naive")
    assert why and "p = nan" in why and "stopped early at step 400 of 1000" in why
    spent = _card(stopped="max_steps", steps=1000)
    why = diagnose("forecast", spent, np.ones(31), np.ones(31) * 0.9, "naive")
    assert why and "try train.max_steps=2000 (it used all 1000)" in why
