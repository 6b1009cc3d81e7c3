"""The verdicts of "your data, measured": holds, does not hold or cannot tell, each by its rule."""

from __future__ import annotations

import numpy as np

from flows.evidence.aggregate import Scored
from flows.stages.evaluate.measured import CLAIMS, measured_table
from flows.stages.evaluate.verdicts import verdicts
from schemas.artifacts import ModelCard, Row
from schemas.specs import RecurrentSpec

RNG = np.random.default_rng(7)
BASE = RNG.gamma(2.0, 0.5, 400)  # per-item errors of a reference model


def _run(name: str, seed: int, ms: float, rss: float, best: int = 100) -> Scored:
    card = ModelCard.model_validate({
        "task": "forecast", "spec": RecurrentSpec(arch="gru"), "steps": 400, "best_step": best,
        "stopped": "early_stopping", "budget": {"max_steps": 1000}, "ms_per_step": ms,
        "peak_rss_mib": rss})
    return Scored(name, "model", 0, seed, {}, np.zeros(1), np.ones(1, bool), card=card)


def _row(name: str, mase: float, width: int | None = None, p50: float = 1.0,
         p95: float = 1.2, items: float = 1000.0) -> Row:
    return Row(model=name, kind="model", status="ok", mase=mase, params_equal_width=width,
               latency_ms=p50, latency_p95_ms=p95, throughput_per_s=items)


def _errors(**shifts: float) -> dict[str, list[np.ndarray]]:
    return {n: [BASE + s + RNG.normal(0, 0.01, BASE.size) for _ in range(2)]
            for n, s in shifts.items()}


def _verdict(rows: list[Row], runs: list[Scored], errors: dict) -> dict[str, str]:
    return dict(zip(CLAIMS, verdicts(rows, runs, errors, "mase", True, 0.05), strict=True))


def test_per_run_claims_hold_fail_or_cannot_tell_by_every_run() -> None:
    runs = [_run("rnn", s, 5 + s, 500) for s in (0, 1)] + \
        [_run("lstm", s, 10 + s, 600 + 50 * s) for s in (0, 1)] + \
        [_run("gru", s, 20 + s, 550 + 100 * s) for s in (0, 1)] + \
        [_run("transformer", s, 30, 900) for s in (0, 1)]
    rows = [_row("rnn", 0.7, 13_000), _row("lstm", 0.6, 51_000), _row("gru", 0.6, 38_000),
            _row("transformer", 0.5, p50=3.0, p95=3.5, items=500.0)]
    v = _verdict(rows, runs, _errors(rnn=0.1, lstm=0.0, gru=0.0, transformer=-0.05))
    assert v["parameters"].startswith("holds (at width 64: gru 38,000, lstm 51,000)")
    assert v["training speed (ms/step)"].startswith("does not hold (gru 20-21 ms, lstm 10-11")
    assert v["peak memory (MiB, process RSS)"].startswith("cannot tell: runs overlap")
    assert v["latency p50/p95 (ms, batch 1)"].startswith("holds: the transformer's p50")
    assert v["throughput (items/s)"].startswith("does not hold (one measurement each")
    assert v["performance"].startswith("cannot tell at level 0.05: no difference shown")
    assert v["recurrence vs convolution"] == "cannot tell: needs cnn in the run"
    close = [_run("gru", s, 9.5 + s, 500) for s in (0, 1)] + \
        [r for r in runs if r.name in ("rnn", "lstm", "transformer")]
    assert _verdict(rows, close, {})["training speed (ms/step)"].startswith("cannot tell")


def test_accuracy_claims_use_the_paired_test_both_ways() -> None:
    rows = [_row("lstm", 0.50), _row("gru", 0.70), _row("cnn", 0.52), _row("linear", 0.45)]
    v = _verdict(rows, [], _errors(lstm=0.0, gru=0.2, cnn=0.0, linear=-0.05))
    assert v["performance"].startswith("does not hold: lstm is better (paired permutation")
    assert v["recurrence vs convolution"].startswith("cannot tell at level 0.05: best of "
                                                     "them lstm against cnn")
    assert v["deep vs linear"].startswith("does not hold: best of them lstm against linear")
    better = _verdict(rows, [], _errors(lstm=0.0, gru=0.2, cnn=0.2, linear=0.3))
    assert better["recurrence vs convolution"].startswith("holds: best of them lstm")
    assert better["deep vs linear"].startswith("holds: best of them lstm")


def test_the_table_ends_each_claim_with_its_verdict() -> None:
    rows = [_row("lstm", 0.5, 51_000), _row("gru", 0.5, 38_000)]
    rows = [r.model_copy(update={"learned": True, "runs": 2}) for r in rows]
    runs = [_run(n, s, 10.0, 500.0) for n in ("lstm", "gru") for s in (0, 1)]
    table = measured_table(rows, "forecast", runs, _errors(lstm=0.0, gru=0.0), 0.05)
    assert list(table) == list(CLAIMS)
    assert all(set(cells) == {"claim", "lstm", "gru", "verdict"} for cells in table.values())
    assert table["parameters"]["verdict"].startswith("holds")


def test_the_linear_map_meets_the_families_only_in_its_own_row() -> None:
    """'RNN fastest' and 'Transformer fastest at large batch' are about the deep families: a
    linear map, faster than all of them, does not decide them."""
    runs = [_run("rnn", s, 5 + s, 500) for s in (0, 1)] + \
        [_run("lstm", s, 10 + s, 600) for s in (0, 1)] + \
        [_run("gru", s, 20 + s, 550) for s in (0, 1)] + \
        [_run("linear", s, 1 + 0.1 * s, 400) for s in (0, 1)]
    rows = [_row("rnn", 0.7), _row("lstm", 0.6), _row("gru", 0.6), _row("transformer", 0.5,
            items=5000.0), _row("linear", 0.6, p50=0.1, p95=0.2, items=90_000.0)]
    v = _verdict(rows, runs, {})
    assert "rnn below every other model on every run" in v["training speed (ms/step)"]
    assert "linear" not in v["training speed (ms/step)"]
    assert v["throughput (items/s)"].startswith("holds (one measurement each: fastest "
                                                "transformer")


def test_the_terminal_shows_each_verdict_short_in_the_table_and_in_full_below() -> None:
    import io

    from flows.report.terminal import print_summary, short_verdict
    from schemas.artifacts import Decision, Metrics

    assert short_verdict("cannot tell at level 0.05: no difference shown (x)") == \
        "cannot tell at level 0.05"
    assert short_verdict("holds (at width 64: gru 1, lstm 2)") == "holds"
    rows = [_row("lstm", 0.5, 51_000), _row("gru", 0.5, 38_000)]
    runs = [_run(n, s, 10.0, 500.0) for n in ("lstm", "gru") for s in (0, 1)]
    table = measured_table(rows, "forecast", runs, _errors(lstm=0.0, gru=0.0), 0.05)
    out = io.StringIO()
    print_summary(Metrics.of("forecast", rows, table),
                  Decision(metric="mase", lower_is_better=True), out)
    text = out.getvalue()
    assert "verdict here" in text
    assert "parameters: holds (at width 64: gru 38,000, lstm 51,000)" in text


def test_the_latency_claim_is_judged_in_each_engine() -> None:
    rows = [_row("lstm", 0.5, p50=1.0, p95=1.2), _row("transformer", 0.5, p50=2.0, p95=2.5)]
    rows[0].onnx_latency_ms, rows[0].onnx_latency_p95_ms = 0.3, 0.4
    rows[1].onnx_latency_ms, rows[1].onnx_latency_p95_ms = 0.2, 0.25
    claim = _verdict(rows, [], {})["latency p50/p95 (ms, batch 1)"]
    assert claim.startswith("PyTorch: holds: the transformer's p50 above")
    assert claim.endswith("ONNX Runtime: does not hold: p50 of lstm above the transformer's p95")
    for r in rows:
        r.onnx_latency_ms = None
    assert _verdict(rows, [], {})["latency p50/p95 (ms, batch 1)"].startswith("holds:")


def _pair(lstm_worse_by: float) -> dict[str, list[np.ndarray]]:
    """gru's and lstm's errors on 40 items, lstm's exactly `lstm_worse_by` higher on each."""
    runs = [BASE[:40] + RNG.normal(0, 0.01, 40) for _ in range(2)]
    return {"gru": runs, "lstm": [r + lstm_worse_by for r in runs]}


def test_tuning_changed_compares_the_gru_lstm_verdict_before_and_after() -> None:
    from flows.stages.evaluate.verdicts import tuning_changed

    gru_better, alike = _pair(0.2), _pair(0.0)
    changed = tuning_changed(alike, gru_better, 0.05)
    assert changed.startswith("changed: untuned gru better (paired permutation")
    assert "; tuned no difference shown at level 0.05 (paired" in changed
    assert tuning_changed(gru_better, _pair(0.3), 0.05).startswith(
        "unchanged: untuned gru better")
    assert tuning_changed(alike, alike, 0.05).startswith(
        "unchanged: untuned no difference shown")
    assert tuning_changed(alike, {"gru": alike["gru"]}, 0.05) == \
        "cannot tell: needs lstm in the run"


def test_the_untuned_row_sets_each_score_beside_its_tuned_one() -> None:
    rows = [_row("lstm", 0.5), _row("gru", 0.45)]
    rows = [r.model_copy(update={"learned": True, "runs": 2}) for r in rows]
    untuned = [_row("lstm", 0.62), _row("gru", 0.55), _row("rnn", 0.9)]
    table = measured_table(rows, "forecast", [], _pair(0.0), 0.05, (untuned, _pair(0.3)))
    assert list(table) == [*CLAIMS, "tuned vs untuned"]
    row = table["tuned vs untuned"]
    assert row["lstm"] == "mase untuned 0.6200, tuned 0.5000"
    assert row["gru"] == "mase untuned 0.5500, tuned 0.4500" and "rnn" not in row
    assert row["verdict"].startswith("changed: untuned gru better")
    assert "tuned vs untuned" not in measured_table(rows, "forecast", [], {}, 0.05)
