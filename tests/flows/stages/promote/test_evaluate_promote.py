"""Metrics, baselines and the promotion policy, on hand-checked numbers."""

import numpy as np
import pytest

from flows.stages.evaluate.baselines import forecast_naive
from flows.stages.promote.rule import decide
from schemas.artifacts import Decision, Row
from schemas.config import PromoteConfig
from tests.helpers import KINDS, SeededErrors, synthetic_frame, synthetic_rows


def test_baselines_repeat_last_value_and_last_season() -> None:
    x = np.arange(10, dtype=np.float32).reshape(1, 10, 1)  # lookback 10
    b = forecast_naive(x, horizon=5, season=3)
    assert b["naive"].tolist() == [[9, 9, 9, 9, 9]]
    assert b["seasonal_naive"].tolist() == [[7, 8, 9, 7, 8]]
    assert "seasonal_naive" not in forecast_naive(x, horizon=2, season=11)


def _row(name: str, kind: str, mase: float, params: int = 0, latency: float = 1.0) -> Row:
    return Row(model=name, kind=kind, status="ok", mase=mase, params=params,  # type: ignore[arg-type]
               latency_ms=latency)


ERRORS = SeededErrors()
RNG, BASE = ERRORS.rng, ERRORS.base  # BASE: per-item errors of the best model
_errors = ERRORS.shifted


def _decide(errors: dict[str, list[np.ndarray]], costs: dict[str, float],
            policy: PromoteConfig | None = None, task: str = "forecast") -> Decision:
    """decide() on the leaderboard rows and error frame these per-item errors make."""
    frame = synthetic_frame(task, errors, KINDS)
    return decide(synthetic_rows(task, frame, costs), task, policy or PromoteConfig(), frame)


def test_a_cheaper_model_shown_within_the_margin_is_promoted_with_its_bound() -> None:
    d = _decide(_errors(naive=0.2, lstm=0.0, gru=0.003, rnn=0.1),
                {"lstm": 5000, "gru": 3000, "rnn": 100})
    assert d.best_model == "lstm" and d.winner == "gru" and d.rule == "non_inferior"
    bound = d.bounds["gru"]
    assert bound.shown and bound.upper < bound.margin == pytest.approx(
        0.02 * float(np.mean(BASE)), rel=0.05)
    assert not d.bounds["rnn"].shown  # cheaper still, but 0.1 worse
    assert "is shown non-inferior within the margin" in d.reason


def test_a_cheaper_model_not_shown_within_the_margin_loses_to_the_best_mean() -> None:
    d = _decide(_errors(naive=0.2, lstm=0.0, gru=0.02), {"lstm": 5000, "gru": 3000})
    assert d.winner == "lstm" and not d.bounds["gru"].shown
    assert d.bounds["gru"].upper > d.bounds["gru"].margin


def test_a_significantly_worse_cheaper_model_does_not_win() -> None:
    errors = _errors(naive=0.2, lstm=0.0, gru=0.05)
    d = _decide(errors, {"lstm": 5000, "gru": 3000})
    assert d.winner == "lstm" and d.tied == ["lstm"] and d.rule == "better"
    assert "significantly better than every other model (gru p" in d.reason
    strict = _decide(errors, {"lstm": 5000, "gru": 3000}, PromoteConfig(level=1e-9, must_beat=[]))
    assert strict.winner == "lstm" and strict.rule == "cannot_tell"  # nothing shown


def test_nothing_shown_better_than_the_baseline_means_no_winner() -> None:
    errors = _errors(seasonal_naive=0.0, lstm=0.1)
    d = _decide(errors, {"lstm": 10})
    assert d.winner is None
    assert "No model is shown better than every baseline in promote.must_beat" in d.reason
    assert _decide(errors, {"lstm": 10}, PromoteConfig(must_beat=[])).winner == "lstm"
    close = _errors(seasonal_naive=0.0, lstm=-0.0001)  # better on the mean, not shown
    assert _decide(close, {"lstm": 10}).winner is None


def test_higher_is_better_metric_and_failed_models_skipped() -> None:
    truth = np.arange(100) % 2
    errors = {"majority": [(truth == 1).astype(float)],
              "gru": [(RNG.random(100) < 0.1).astype(float)]}
    frame = synthetic_frame("classify", errors, {"majority": "baseline"})
    failed = Row(model="lstm", kind="model", status="failed")
    rows = [*synthetic_rows("classify", frame, {"gru": 9}), failed]
    assert decide(rows, "classify", PromoteConfig(), frame).winner == "gru"


def test_reason_is_true_when_the_winner_does_not_beat_the_baseline() -> None:
    d = _decide(_errors(seasonal_naive=0.0, lstm=0.1), {"lstm": 10},
                PromoteConfig(must_beat=[]))
    assert d.winner == "lstm"
    assert "shown better than" not in d.reason and "promote.must_beat is empty" in d.reason
    assert d.notes["lstm"].startswith("does not beat seasonal_naive (mase 0.")


def test_a_diverged_model_is_flagged_and_never_promoted() -> None:
    errors = {"naive": [BASE], "gru": [BASE * 78_874], "rnn": [BASE * 1.2]}
    d = _decide(errors, {"gru": 10, "rnn": 5}, PromoteConfig(must_beat=[]))
    assert d.winner == "rnn"
    assert d.notes["gru"].startswith("diverged: mase")
    assert "78,874x that of naive" in d.notes["gru"]
    only = _decide({"naive": [BASE], "gru": [BASE * 78_874]}, {"gru": 10},
                   PromoteConfig(must_beat=[]))
    assert only.winner is None and only.reason.startswith("Every model diverged")


def test_the_leaderboard_flags_models_that_do_not_beat_the_baseline() -> None:
    from flows.report.markdown import leaderboard_table

    errors = {"naive": [BASE], "gru": [BASE * 78_874], "rnn": [BASE * 0.9]}
    frame = synthetic_frame("forecast", errors, KINDS)
    rows = synthetic_rows("forecast", frame, {"gru": 10, "rnn": 5})
    decision = decide(rows, "forecast", PromoteConfig(), frame)
    table = leaderboard_table(rows, "forecast", decision)
    assert "| gru | model ⚠ |" in table and "| **rnn** ✓ |" in table
    assert "⚠ gru: diverged: mase" in table and "78,874x that of naive" in table


def test_one_good_seed_does_not_make_a_worse_model_equivalent() -> None:
    """The old rule took the least significant seed pairing: one good seed of gru made it
    'not significantly worse' and, being cheaper, promoted. Seeds are averaged now."""
    errors = _errors(naive=0.2, lstm=0.0)
    errors["lstm"].append(BASE + RNG.normal(0, 0.01, len(BASE)))
    bad, good = BASE + 0.06, BASE + RNG.normal(0, 0.01, len(BASE))  # gru's two seeds
    d = _decide({**errors, "gru": [bad, good]}, {"lstm": 5000, "gru": 3000})
    assert d.winner == "lstm" and not d.bounds["gru"].shown
    assert d.tests["gru"]["seeds"] == [2, 2]


def test_a_skipped_reference_is_said_in_the_decision() -> None:
    errors = _errors(naive=0.2, lstm=0.0)
    frame = synthetic_frame("forecast", errors, KINDS)
    skipped = Row(model="autoets", kind="reference", status="skipped", note="skipped: too long")
    rows = [*synthetic_rows("forecast", frame, {"lstm": 10}), skipped]
    d = decide(rows, "forecast", PromoteConfig(), frame)
    assert d.references == {"autoets": "autoets was not run: skipped: too long"}


def test_must_beat_names_are_checked_before_anything_trains() -> None:
    from schemas.config import load_config
    from schemas.errors import UsageError

    with pytest.raises(UsageError, match="unknown autoet"):
        load_config(None, {"promote.must_beat": ["autoet"]})
    for reference in ("autoets", "autotheta", "autoarima", "1nn_dtw", "minirocket"):
        gates = ["seasonal_naive", reference]
        assert load_config(None, {"promote.must_beat": gates}).promote.must_beat == gates
    with pytest.raises(UsageError, match=r"evaluate\.references is false"):
        load_config(None, {"promote.must_beat": ["autoets"], "evaluate.references": False})


def test_the_terminal_shows_the_same_board_as_a_table_not_markdown() -> None:
    """rich draws the report's board: names as typed (no Markdown escapes, no markup run),
    the deciding metric with its interval, the winner marked."""
    import io

    from flows.report.terminal import print_summary
    from schemas.artifacts import Metrics

    errors = {"naive": [BASE], "seasonal_naive": [BASE * 0.95], "rnn": [BASE * 0.9],
              "[bold]x[/bold]": [BASE * 0.99]}
    frame = synthetic_frame("forecast", errors, KINDS)
    rows = synthetic_rows("forecast", frame, {"rnn": 5, "[bold]x[/bold]": 3})
    decision = decide(rows, "forecast", PromoteConfig(must_beat=[]), frame)
    metrics = Metrics.of("forecast", rows, {})
    out = io.StringIO()
    print_summary(metrics, decision.model_copy(update={"outcome": "promoted"}), out)
    text = out.getvalue()
    rnn = next(line for line in text.splitlines() if " rnn ✓ " in line)
    ci = metrics.models["rnn"].interval["mase"]
    lo, hi = f"{ci.lo:.4f}", f"{ci.hi:.4f}"
    assert f"[{lo}, {hi}]" in rnn
    assert "seasonal_naive" in text and "seasonal\\_naive" not in text and "| rnn |" not in text
    assert "[bold]x[/bold]" in text and "Promoted: rnn." in text


def test_a_reference_that_beats_the_winner_is_said_first_everywhere() -> None:
    """A reference with clearly lower errors than every network: the decision's headline
    names it (with its library, score and cost), and the terminal says it before the board."""
    import io

    from flows.report.terminal import print_summary
    from schemas.artifacts import Metrics

    kinds = {**KINDS, "autotheta": "reference", "autoets": "reference"}
    errors = {**_errors(naive=0.3, lstm=0.0, gru=0.05), "autotheta": [BASE - 0.1],
              "autoets": [BASE + 0.01 + RNG.normal(0, 0.01, len(BASE))]}
    frame = synthetic_frame("forecast", errors, kinds)
    rows = [r.model_copy(update={"train_seconds": 2.5}) if r.model == "autotheta" else r
            for r in synthetic_rows("forecast", frame, {"lstm": 10, "gru": 5})]
    d = decide(rows, "forecast", PromoteConfig(), frame)
    assert d.winner == "lstm" and d.beaten_by == ["autotheta"]  # autoets is worse than lstm
    assert d.headline.startswith("A reference beats the networks: autotheta "
                                 "(statsforecast) reaches mase ")
    assert "; the best network by the rule, lstm, " in d.headline
    assert "it took 2.5 s to fit and predict" in d.headline
    assert "consider autotheta for this data" in d.headline
    out = io.StringIO()
    print_summary(Metrics.of("forecast", rows, {}), d.model_copy(update={"outcome": "promoted"}),
                  out)
    text = out.getvalue()
    assert text.index("A reference beats") < text.index("lstm")
    close = {**errors, "autotheta": [BASE + RNG.normal(0, 0.01, len(BASE))]}  # no better
    frame = synthetic_frame("forecast", close, kinds)
    d = decide(synthetic_rows("forecast", frame, {"lstm": 10, "gru": 5}), "forecast",
               PromoteConfig(), frame)
    assert d.beaten_by == [] and d.headline is None
