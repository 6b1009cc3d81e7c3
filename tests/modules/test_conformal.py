"""Split-conformal intervals: the quantile rule on known cases, coverage on synthetic
residuals, the card's typed calibration, and no torch on the import path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from modules.conformal import bounds, calibrate, columns, coverage, coverages, half_widths, rank
from schemas.intervals import Band, Conformal
from tests.helpers import ROOT


def test_the_quantile_is_the_ceil_n_plus_1_level_th_smallest_residual() -> None:
    residuals = np.arange(1, 101, dtype=float)[::-1, None]  # (100, 1), order does not matter
    cal = calibrate(residuals, [0.95, 0.8])
    assert cal.n == 100 and cal.levels == [0.8, 0.95]  # stored sorted
    assert [b.quantiles for b in cal.bands] == [[81.0], [96.0]]  # ceil(101 a)-th smallest
    assert rank(100, 0.8) == 81 and rank(9, 0.8) == 8  # 10 * 0.8 = 8 exactly, not 9
    signed = np.concatenate([-np.arange(1, 51), np.arange(51, 101)]).astype(float)[:, None]
    assert calibrate(signed, [0.8]).bands[0].quantiles == [81.0]  # absolute residuals


def test_each_horizon_step_gets_its_own_quantile() -> None:
    residuals = np.arange(1, 101, dtype=float)[:, None] * np.array([1.0, 2.0, 10.0])  # (100, 3)
    assert calibrate(residuals, [0.8]).bands[0].quantiles == [81.0, 162.0, 810.0]


def test_too_few_residuals_give_an_unbounded_interval() -> None:
    cal = calibrate(np.ones((18, 1)), [0.8, 0.95])  # ceil(19 * 0.95) = 19 > 18, one step
    assert cal.bands[0].quantiles == [1.0]
    assert cal.bands[1].quantiles == [None] and not cal.bands[1].pooled
    (_, lo80, hi80), (_, lo95, hi95) = bounds(np.zeros((4, 1)), cal)
    assert np.all(lo80 == -1) and np.all(hi80 == 1)
    assert np.all(np.isneginf(lo95)) and np.all(np.isposinf(hi95))
    assert calibrate(np.ones((19, 1)), [0.95]).bands[0].quantiles == [1.0]
    assert calibrate(np.zeros((0, 3)), [0.8]).bands[0].quantiles == [None] * 3
    assert calibrate(np.ones((1, 2)), [0.8]).bands[0].quantiles == [None] * 2  # 3 pooled of 2


def test_too_few_windows_per_step_pool_the_steps_with_a_per_step_scale() -> None:
    """n = 2, H = 3 by hand. Scales s = (2, 4, 5); scores 0.5, 1.5 | 0.5, 1.5 | 1, 1.
    At 0.7 the per-step rank ceil(3 * 0.7) = 3 > 2, so pool: the ceil(7 * 0.7) = 5th of the
    6 sorted scores is 1.5, half-widths 1.5 * s. At 0.6 the rank 2 fits: per step. At 0.9
    the pooled rank ceil(6.3) = 7 > 6 too: unbounded, not marked pooled."""
    residuals = np.array([[1.0, -2.0, 5.0], [3.0, 6.0, -5.0]])
    low, mid, high = calibrate(residuals, [0.6, 0.7, 0.9]).bands
    assert low.quantiles == [3.0, 6.0, 5.0] and not low.pooled
    assert mid.quantiles == pytest.approx([3.0, 6.0, 7.5]) and mid.pooled
    assert high.quantiles == [None] * 3 and not high.pooled
    zero = calibrate(np.array([[0.0, 1.0], [0.0, 3.0]]), [0.7]).bands[0]  # a step of zeros
    assert zero.pooled and zero.quantiles[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("h", [1, 3])
def test_the_steps_are_pooled_exactly_when_the_per_step_rank_exceeds_n(h: int) -> None:
    rng = np.random.default_rng(3)
    for n in range(1, 45):
        residuals = rng.normal(0, 1, (n, h)) * np.arange(1, h + 1)
        for level, got in zip(levels := [0.5, 0.8, 0.9, 0.95, 0.975],
                              calibrate(residuals, levels).bands, strict=True):
            pooled = rank(n, level) > n and h > 1 and rank(n * h, level) <= n * h
            assert got.pooled == pooled, (n, level)
            if rank(n, level) <= n:
                assert got.quantiles == half_widths(residuals, level)
            elif not pooled:
                assert got.quantiles == [None] * h  # H = 1: still unbounded
    assert calibrate(np.ones((11, 1)), [0.95]).bands[0].quantiles == [None]  # airline, H = 1


def test_pooled_coverage_of_fresh_draws_with_growing_step_scales() -> None:
    """n = 11 windows of H = 12 steps, step h's errors N(0, (1 + h/4)^2), correlated 0.6
    between neighbouring steps: the per-step 95% band is unbounded (rank 12 > 11), the pooled
    one bounded. Over 400 calibrations with 200 new windows each, its coverage averages
    within 0.03 of 0.95 (about 0.928: the scales are estimated from the same 11 residuals,
    so the calibration scores are a little less spread than new ones; sd of the mean about
    0.0015), and every step is within 0.02 of the overall mean (the scale evens them)."""
    rng = np.random.default_rng(0)
    n, h = 11, 12
    steps = np.arange(h)
    chol = np.linalg.cholesky(0.6 ** np.abs(np.subtract.outer(steps, steps)))
    scale = 1 + steps / 4

    def draw(rows: int) -> np.ndarray:
        """Rows of correlated errors with per-step scales."""
        return rng.standard_normal((rows, h)) @ chol.T * scale

    inside = []
    for _ in range(400):
        [band] = calibrate(draw(n), [0.95]).bands
        assert band.pooled and None not in band.quantiles
        y = draw(200)
        [(_, lo, hi)] = bounds(np.zeros_like(y), Conformal(n=n, bands=[band]))
        inside.append(np.mean((lo <= y) & (y <= hi), axis=0))  # (H,)
    per_step = np.mean(inside, axis=0)
    assert abs(per_step.mean() - 0.95) < 0.03
    assert np.all(np.abs(per_step - per_step.mean()) < 0.02)


def test_a_non_finite_residual_counts_as_larger_than_any() -> None:
    residuals = np.arange(1, 101, dtype=float)[:, None]
    residuals[0] = np.nan  # 1 becomes the largest: the 81st smallest is now 82
    assert calibrate(residuals, [0.8]).bands[0].quantiles == [82.0]


def test_bounds_and_coverage() -> None:
    cal = calibrate(np.arange(1, 101, dtype=float)[:, None] * [1.0, 2.0], [0.8])
    yhat = np.array([[0.0, 10.0], [5.0, 5.0]])  # (N, H)
    [(level, lo, hi)] = bounds(yhat, cal)
    assert level == 0.8
    np.testing.assert_array_equal(lo, [[-81, 10 - 162], [5 - 81, 5 - 162]])
    np.testing.assert_array_equal(hi, [[81, 10 + 162], [5 + 81, 5 + 162]])
    y = np.array([[81.0, 500.0], [0.0, 5.0]])  # the bound itself is inside
    assert coverage(y, lo, hi) == 0.75
    assert coverages(y, yhat, cal) == [(0.8, 0.75)]
    with pytest.raises(ValueError, match="do not match"):
        bounds(np.zeros((2, 3)), cal)


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_coverage_of_fresh_gaussian_draws_is_near_the_level(level: float) -> None:
    """Exchangeable residuals: the coverage of new draws averages the level (at least it,
    at most level + 1/(n+1) in expectation); over 20 calibrations of n = 500 with 2,000 new
    values each, the mean is within 0.01 of the level (its sd here is about 0.003)."""
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(20):
        cal = calibrate(rng.normal(0, 2.0, (500, 3)), [level])
        y = rng.normal(0, 2.0, (2000, 3))
        [(_, lo, hi)] = bounds(np.zeros_like(y), cal)
        shares.append(coverage(y, lo, hi))
    assert abs(np.mean(shares) - level) < 0.01
    assert all(abs(s - level) < 0.05 for s in shares)  # each calibration on its own


def test_output_columns_name_the_level() -> None:
    assert columns(0.8) == ("lo_80", "hi_80")
    assert columns(0.95) == ("lo_95", "hi_95")
    assert columns(0.975) == ("lo_97.5", "hi_97.5")


def test_the_calibration_round_trips_through_json_and_refuses_damage() -> None:
    cal = calibrate(np.ones((10, 1)), [0.5, 0.95])
    raw = json.loads(cal.model_dump_json())
    assert raw["bands"][1]["quantiles"] == [None]  # unbounded: null, valid JSON
    assert Conformal.model_validate(raw) == cal
    old = {"level": 0.95, "quantiles": [None]}  # a card from before `pooled`
    assert not Band.model_validate(old).pooled
    for bad in ({**raw, "bands": raw["bands"][::-1]},  # out of order
                {**raw, "bands": [raw["bands"][0], {"level": 0.9, "quantiles": [1.0, 2.0]}]},
                {**raw, "extra": 1}):
        with pytest.raises(ValidationError):
            Conformal.model_validate(bad)
    for band in ({"level": 1.0, "quantiles": [1.0]}, {"level": 0.8, "quantiles": [-1.0]},
                 {"level": 0.8, "quantiles": [float("inf")]}, {"level": 0.8, "quantiles": []}):
        with pytest.raises(ValidationError):
            Band.model_validate(band)
    with pytest.raises(ValueError, match="unique"):
        calibrate(np.ones((10, 1)), [0.8, 0.8])


def test_conformal_imports_no_torch() -> None:
    """A predict path on ONNX Runtime calls these functions without torch installed."""
    code = ("import sys, modules.conformal, schemas.intervals; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'pytorch_lightning', 'lightning', 'polars', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
