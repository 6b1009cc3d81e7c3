"""Metrics, baselines and the promotion policy, on hand-checked numbers."""

import numpy as np
import pytest

from flows.baselines import forecast_naive
from flows.promote import decide
from schemas.config import PromoteConfig


def test_baselines_repeat_last_value_and_last_season() -> None:
    x = np.arange(10, dtype=np.float32).reshape(1, 10, 1)  # lookback 10
    b = forecast_naive(x, horizon=5, season=3)
    assert b["naive"].tolist() == [[9, 9, 9, 9, 9]]
    assert b["seasonal_naive"].tolist() == [[7, 8, 9, 7, 8]]
    assert "seasonal_naive" not in forecast_naive(x, horizon=2, season=11)


def _row(name: str, kind: str, mase: float, params: int = 0, latency: float = 1.0) -> dict:
    return {"model": name, "kind": kind, "status": "ok", "mase": mase, "params": params,
            "latency_ms": latency}


RNG = np.random.default_rng(0)
BASE = RNG.gamma(2.0, 0.4, 200)  # per-item errors of the best model


def _errors(**shifts: float) -> dict[str, list[np.ndarray]]:
    """Per-item errors of one run (seed) per model: BASE plus a shift and small noise."""
    return {name: [BASE + shift + RNG.normal(0, 0.01, len(BASE))]
            for name, shift in shifts.items()}


def test_a_tie_by_the_paired_test_prefers_fewer_parameters() -> None:
    rows = [_row("naive", "baseline", 1.0), _row("lstm", "model", 0.800, 5000),
            _row("gru", "model", 0.801, 3000), _row("rnn", "model", 0.90, 100)]
    errors = _errors(naive=0.2, lstm=0.0, gru=0.0005, rnn=0.1)
    d = decide(rows, "forecast", PromoteConfig(), errors)
    assert d["winner"] == "gru" and d["tied"] == ["lstm", "gru"]
    assert d["tests"]["gru"]["p_value"] > 0.05 and d["tests"]["rnn"]["p_value"] < 0.001
    assert "is not significantly worse at level 0.05 (paired permutation test on 200" \
        in d["reason"]


def test_a_significantly_worse_cheaper_model_does_not_win() -> None:
    rows = [_row("naive", "baseline", 1.0), _row("lstm", "model", 0.800, 5000),
            _row("gru", "model", 0.820, 3000)]
    d = decide(rows, "forecast", PromoteConfig(), _errors(naive=0.2, lstm=0.0, gru=0.02))
    assert d["winner"] == "lstm" and d["tied"] == ["lstm"]
    assert "significantly better than gru" in d["reason"]
    strict = decide(rows, "forecast", PromoteConfig(level=1e-9), _errors(naive=0.2, lstm=0.0,
                                                                          gru=0.02))
    assert strict["winner"] == "gru"  # at a level nothing reaches, everything is tied


def test_nothing_beats_the_baseline_means_no_winner() -> None:
    rows = [_row("seasonal_naive", "baseline", 0.7), _row("lstm", "model", 0.8, 10)]
    d = decide(rows, "forecast", PromoteConfig(), {})
    assert d["winner"] is None
    assert "No model beats every baseline in promote.must_beat" in d["reason"]
    assert decide(rows, "forecast", PromoteConfig(must_beat=[]), {})["winner"] == "lstm"


def test_higher_is_better_metric_and_failed_models_skipped() -> None:
    rows = [{"model": "majority", "kind": "baseline", "status": "ok", "macro_f1": 0.3,
             "params": 0, "latency_ms": None},
            {"model": "lstm", "kind": "model", "status": "failed", "params": 0},
            {"model": "gru", "kind": "model", "status": "ok", "macro_f1": 0.9, "params": 9,
             "latency_ms": 1.0}]
    assert decide(rows, "classify", PromoteConfig(), {})["winner"] == "gru"


def test_reason_is_true_when_the_winner_does_not_beat_the_baseline() -> None:
    rows = [_row("seasonal_naive", "baseline", 0.7), _row("lstm", "model", 0.8, 10)]
    d = decide(rows, "forecast", PromoteConfig(must_beat=[]), {})
    assert d["winner"] == "lstm"
    assert "It beats" not in d["reason"] and "does NOT beat the best baseline" in d["reason"]
    assert d["notes"] == {"lstm": "does not beat seasonal_naive (mase 0.7)"}


def test_a_diverged_model_is_flagged_and_never_promoted() -> None:
    rows = [_row("naive", "baseline", 1.0), _row("gru", "model", 78_874.0, 10),
            _row("rnn", "model", 1.2, 5)]
    d = decide(rows, "forecast", PromoteConfig(must_beat=[]), {})
    assert d["winner"] == "rnn"
    assert d["notes"]["gru"].startswith("diverged: mase 7.887e+04 is 78,874x that of naive")
    only = decide(rows[:2], "forecast", PromoteConfig(must_beat=[]), {})
    assert only["winner"] is None and only["reason"].startswith("Every model diverged")


def test_the_leaderboard_flags_models_that_do_not_beat_the_baseline() -> None:
    from flows.report import leaderboard_table

    rows = [_row("naive", "baseline", 1.0), _row("gru", "model", 78_874.0, 10),
            _row("rnn", "model", 0.9, 5)]
    rows = [{**r, "mae": 1.0, "rmse": 1.0, "smape": 1.0} for r in rows]
    table = leaderboard_table(rows, "forecast", decide(rows, "forecast", PromoteConfig(), {}))
    assert "| gru | model ⚠ |" in table and "| **rnn** ✓ |" in table
    assert "⚠ gru: diverged: mase 7.887e+04 is 78,874x that of naive" in table


def test_a_gap_that_one_seed_closes_is_no_significant_gap() -> None:
    rows = [_row("naive", "baseline", 1.0), _row("lstm", "model", 0.800, 5000),
            _row("gru", "model", 0.810, 3000)]
    errors = _errors(naive=0.2, lstm=0.0)
    bad, good = BASE + 0.02, BASE + RNG.normal(0, 0.01, len(BASE))  # gru's two seeds
    d = decide(rows, "forecast", PromoteConfig(), {**errors, "gru": [bad, good]})
    assert d["winner"] == "gru"  # its good seed is as good as lstm: tied, and cheaper
    assert d["tests"]["gru"]["pairs"] == 2 and d["tests"]["gru"]["p_value"] > 0.05
    only_bad = decide(rows, "forecast", PromoteConfig(), {**errors, "gru": [bad, bad + 0.001]})
    assert only_bad["winner"] == "lstm"


def test_a_skipped_reference_is_said_in_the_decision() -> None:
    rows = [_row("naive", "baseline", 1.0), _row("lstm", "model", 0.8, 10),
            {"model": "autoets", "kind": "reference", "status": "skipped", "params": 0,
             "note": "skipped: too long"}]
    d = decide(rows, "forecast", PromoteConfig(), _errors(naive=0.2, lstm=0.0))
    assert d["references"] == {"autoets": "autoets was not run: skipped: too long"}


def test_must_beat_names_are_checked_before_anything_trains() -> None:
    from schemas.config import load_config
    from schemas.errors import UsageError

    with pytest.raises(UsageError, match="unknown autoet"):
        load_config(None, {"promote.must_beat": ["autoet"]})
    with pytest.raises(UsageError, match=r"evaluate\.references is false"):
        load_config(None, {"promote.must_beat": ["autoets"], "evaluate.references": False})
