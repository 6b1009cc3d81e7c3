"""Statistics behind the decision, from scipy and statsmodels: a paired permutation test of
two models' per-item errors on the same items (each model's errors averaged over its seeds
first), Holm's adjustment for the comparisons of one decision, and the smallest difference
a test of a given standard error can detect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

PAIRED_TEST = "paired permutation test (sign flips) of the mean error difference"
RESAMPLES = 9999  # scipy runs the exact test instead when 2**differ <= RESAMPLES
# scipy loops in Python over the items for each batch of resamples: batches of up to 1000
# resamples, and at most 5e6 (resample x item) cells in memory; about 50 ns per cell on one
# core, so 2.5 s for 5,000 items
MAX_BATCH, CELLS_PER_BATCH = 1000, 5_000_000


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """The test statistic: mean of a - b along `axis` (vectorised for scipy)."""
    return np.mean(a - b, axis=axis)


def paired_test(errors_a: np.ndarray, errors_b: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """One-sided test that A's mean per-item error is higher than B's (A significantly worse)
    on the same items. Items where A and B err equally are left out of the resampling: a sign
    flip cannot change them, so the p-value is the same, and the test is exact for up to 13
    differing items (e.g. few discordant sequences in classification). `statistic` is the mean
    difference over the differing items, `mean_diff` over all items."""
    a, b = np.asarray(errors_a, dtype=np.float64), np.asarray(errors_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired errors need equal 1-D shapes, got {a.shape} and {b.shape}")
    differ = a != b
    n_differ = int(differ.sum())
    out = {"test": PAIRED_TEST, "n": len(a), "differ": n_differ,
           "mean_diff": float(np.mean(a - b)) if len(a) else 0.0}
    if n_differ == 0:  # every sign flip gives the observed 0: nothing suggests A is worse
        return {**out, "statistic": 0.0, "p_value": 1.0}
    if n_differ == 1:  # scipy needs two items; the two flips of one: d and -d
        d = float((a - b)[differ][0])
        return {**out, "statistic": d, "p_value": 0.5 if d > 0 else 1.0}
    res = stats.permutation_test(
        (a[differ], b[differ]), _mean_difference, permutation_type="samples",
        vectorized=True, n_resamples=RESAMPLES, alternative="greater",
        batch=max(1, min(MAX_BATCH, CELLS_PER_BATCH // n_differ)),
        rng=np.random.default_rng(seed))
    return {**out, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def seed_mean(runs: Sequence[np.ndarray]) -> np.ndarray:
    """Per-item errors averaged over a model's seeds: one test per comparison uses them all."""
    return np.mean(np.stack([np.asarray(r, dtype=np.float64) for r in runs]), axis=0)


def paired_test_runs(runs_a: Sequence[np.ndarray], runs_b: Sequence[np.ndarray]) -> dict[str, Any]:
    """`paired_test` of A's and B's per-item errors, each averaged over its seeds first."""
    t = paired_test(seed_mean(runs_a), seed_mean(runs_b))
    return {**t, "test": f"{PAIRED_TEST}, per-item errors averaged over seeds",
            "seeds": [len(runs_a), len(runs_b)]}


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (statsmodels) for one family of comparisons."""
    if not p_values:
        return {}
    adjusted = multipletests(list(p_values.values()), method="holm")[1]
    return {name: float(p) for name, p in zip(p_values, adjusted, strict=True)}


def detectable(se: float, level: float, power: float = 0.8) -> float:
    """The smallest true difference a one-sided test at `level` detects with `power`, for a
    normal estimate of standard error `se`."""
    return float((stats.norm.ppf(1 - level) + stats.norm.ppf(power)) * se)
