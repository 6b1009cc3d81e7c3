"""The paired test, Holm's adjustment and the bootstrap, on constructed data."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from flows.evidence.bootstrap import Bootstrap
from flows.evidence.paired import PAIRED_TEST, holm, paired_test
from flows.evidence.scoring import classify_metrics, forecast_metrics, window_errors
from tests.helpers import synthetic_frame


def test_holm_matches_the_step_down_by_hand() -> None:
    got = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert got == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})  # 3p, max(2p, prev), ...


def test_the_bootstrap_at_unit_weights_gives_the_scored_metrics() -> None:
    """Every metric recomputed from the per-item sums equals scoring.py's on the same items."""
    rng = np.random.default_rng(3)
    y, yhat, scale = rng.normal(5, 2, (40, 3)), rng.normal(5, 2, (40, 3)), rng.uniform(1, 2, 40)
    from flows.evidence.bootstrap import item_columns, metric_of

    sums = window_errors(y, yhat) | {"error": (np.abs(y - yhat) / scale[:, None]).mean(1)}
    part = pl.DataFrame(sums)
    ones = item_columns(part, "forecast", 0).sum(axis=0, keepdims=True)
    for m, v in forecast_metrics(y, yhat, scale).items():
        assert metric_of(ones, "forecast", m, 0)[0] == pytest.approx(v, rel=1e-9)
    truth, pred = rng.integers(0, 4, 90), rng.integers(0, 4, 90)
    part = pl.DataFrame({"truth": truth, "pred": pred})
    ones = item_columns(part, "classify", 4).sum(axis=0, keepdims=True)
    for m, v in classify_metrics(truth, pred, 4).items():
        assert metric_of(ones, "classify", m, 4)[0] == pytest.approx(v, rel=1e-6)


def test_the_bootstrap_interval_covers_the_true_accuracy_about_95_percent_of_the_time() -> None:
    rng, covered = np.random.default_rng(0), []
    for _ in range(60):
        frame = synthetic_frame("classify", {"m": [(rng.random(300) < 0.2).astype(float)]})
        lo, hi = Bootstrap(frame, "classify", draws=400).interval("m", "accuracy")
        covered.append(lo <= 0.8 <= hi)
    assert 0.85 <= np.mean(covered) <= 1.0


def test_seeds_widen_the_interval_and_two_seeds_do_not_make_it_vacuous() -> None:
    rng = np.random.default_rng(1)
    same = [(rng.random(500) < 0.1).astype(float)] * 2
    apart = [(rng.random(500) < 0.05).astype(float), (rng.random(500) < 0.15).astype(float)]
    boot = Bootstrap(synthetic_frame("classify", {"same": same, "apart": apart}), "classify")
    lo_s, hi_s = boot.interval("same", "accuracy")
    lo_a, hi_a = boot.interval("apart", "accuracy")
    assert hi_a - lo_a > hi_s - lo_s and hi_a - lo_a < 0.5


def test_blocks_stay_whole_and_strata_keep_their_size() -> None:
    frame = synthetic_frame("classify", {"m": [np.zeros(30)]})
    boot = Bootstrap(frame, "classify", draws=50)
    counts = boot._counts[0]  # (draws, blocks): each class keeps its 15 sequences
    for ids in boot.units.strata:
        assert (counts[:, ids].sum(axis=1) == len(ids)).all()


def _worse(n: int = 60, gap: float = 0.3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-window errors where A is `gap` worse than B on average."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.5, 1.5, n)
    return b + gap + rng.normal(0, 0.2, n), b


def test_a_clearly_worse_model_is_significant() -> None:
    a, b = _worse()
    got = paired_test(a, b)
    assert got["p_value"] < 0.01
    assert got["test"] == PAIRED_TEST and got["n"] == got["differ"] == 60
    assert got["mean_diff"] == pytest.approx(float(np.mean(a - b)))
    assert got["statistic"] == pytest.approx(got["mean_diff"])  # every item differs


def test_no_difference_is_not_significant() -> None:
    rng = np.random.default_rng(2)
    b = rng.uniform(0.5, 1.5, 40)
    a = b + np.tile([0.3, -0.3], 20)  # differences symmetric about 0
    assert paired_test(a, b)["p_value"] > 0.2


def test_swapping_the_models_flips_the_direction() -> None:
    a, b = _worse()
    assert paired_test(a, b)["p_value"] < 0.01
    assert paired_test(b, a)["p_value"] > 0.99


def test_identical_errors_give_p_one() -> None:
    e = np.array([0.2, 0.4, 0.4, 1.0])
    got = paired_test(e, e.copy())
    assert got == {"test": PAIRED_TEST, "n": 4, "differ": 0, "mean_diff": 0.0,
                   "statistic": 0.0, "p_value": 1.0}


def test_classification_errors_exact_on_the_discordant_sequences() -> None:
    a = np.zeros(100)
    b = np.zeros(100)
    a[:8] = 1.0  # A misclassifies 8 sequences that B gets right
    a[50:60] = b[50:60] = 1.0  # both wrong on 10: no evidence either way
    got = paired_test(a, b)
    # 8 discordant pairs, all against A: of the 2**8 sign flips only the observed one is as
    # extreme, so the exact one-sided p-value is 1/256
    assert got["differ"] == 8 and got["p_value"] == pytest.approx(1 / 256)
    assert got["mean_diff"] == pytest.approx(0.08) and got["statistic"] == pytest.approx(1.0)
    assert paired_test(b, a)["p_value"] == pytest.approx(1.0)


def test_leaving_out_equal_items_keeps_scipys_exact_p_value() -> None:
    a = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.3, 0.8, 0.2, 0.6, 0.4, 0.5])
    b = np.array([0.5, 0.1, 0.6, 0.2, 0.3, 0.1, 0.4, 0.2, 0.7, 0.1, 0.2])
    full = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis),
                                  permutation_type="samples", vectorized=True,
                                  alternative="greater")  # 2**11 flips: exact
    got = paired_test(a, b)
    assert got["differ"] == 8 and got["p_value"] == pytest.approx(full.pvalue)


def test_the_same_seed_gives_the_same_p_value() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 1, 200), rng.uniform(0, 1, 200)
    assert paired_test(a, b, seed=5) == paired_test(a, b, seed=5)


def test_unpaired_errors_are_refused() -> None:
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        paired_test(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize(("sign", "p"), [(1.0, 0.5), (-1.0, 1.0)])
def test_one_differing_item_has_the_exact_p_value_of_its_two_flips(sign: float, p: float) -> None:
    a, b = np.array([0.3, 0.5, 0.5]), np.array([0.3, 0.5, 0.5])
    a[0] += sign * 0.2
    got = paired_test(a, b)
    assert got["differ"] == 1 and got["p_value"] == p
    assert got["statistic"] == pytest.approx(sign * 0.2)


def test_thousands_of_windows_run_in_batches() -> None:
    rng = np.random.default_rng(4)
    b = rng.uniform(0.5, 1.5, 3000)
    got = paired_test(b + rng.normal(0.05, 0.3, 3000), b)
    assert got["n"] == 3000 and got["p_value"] < 0.01
