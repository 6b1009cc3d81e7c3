"""Intervals over repeats and the paired test, on constructed data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from flows.evidence import PAIRED_TEST, interval, paired_test

T_975_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables)


def test_interval_known_values() -> None:
    got = interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, sem 1/sqrt(3); half width 4.3027 / sqrt(3) = 2.4841
    half = T_975_DF2 / np.sqrt(3)
    assert got == pytest.approx({"mean": 2.0, "sd": 1.0, "lo": 2 - half, "hi": 2 + half, "n": 3})


def test_a_higher_level_is_wider() -> None:
    narrow, wide = interval([0.91, 0.95, 0.94], 0.95), interval([0.91, 0.95, 0.94], 0.99)
    assert wide["lo"] < narrow["lo"] < narrow["mean"] < narrow["hi"] < wide["hi"]


def test_interval_of_one_or_no_value() -> None:
    assert interval([0.7]) == {"mean": 0.7, "sd": None, "lo": None, "hi": None, "n": 1}
    assert interval([]) == {"mean": None, "sd": None, "lo": None, "hi": None, "n": 0}


def test_interval_of_equal_values_is_a_point_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = interval([0.5, 0.5, 0.5, 0.5])
    assert got == {"mean": 0.5, "sd": 0.0, "lo": 0.5, "hi": 0.5, "n": 4}


def test_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(3.0, 2.0, (2000, 4))
    covered = [(r := interval(row))["lo"] <= 3.0 <= r["hi"] for row in draws]
    assert 0.93 < np.mean(covered) < 0.97


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
