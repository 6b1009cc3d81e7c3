"""Statistics behind the decision, from scipy: a Student-t interval over repeats (seeds,
folds) and a paired permutation test of two models' per-item errors on the same items.

Holm's adjustment for many comparisons is not here: scipy has none (its
false_discovery_control offers Benjamini-Hochberg/Yekutieli only) and statsmodels, which has
it, is not a dependency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

PAIRED_TEST = "paired permutation test (sign flips) of the mean error difference"
RESAMPLES = 9999  # scipy runs the exact test instead when 2**differ <= RESAMPLES
# scipy loops in Python over the items for each batch of resamples: batches of up to 1000
# resamples, and at most 5e6 (resample x item) cells in memory; about 50 ns per cell on one
# core, so 2.5 s for 5,000 items
MAX_BATCH, CELLS_PER_BATCH = 1000, 5_000_000


def interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean, sample sd (ddof=1) and the Student-t `level` interval of the mean; sd, lo and hi
    are None below two values, and lo == hi == mean when every value is the same."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else None
    if n < 2:
        return {"mean": mean, "sd": None, "lo": None, "hi": None, "n": n}
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return {"mean": mean, "sd": 0.0, "lo": mean, "hi": mean, "n": n}
    lo, hi = stats.t.interval(level, df=n - 1, loc=mean, scale=float(stats.sem(x)))
    return {"mean": mean, "sd": sd, "lo": float(lo), "hi": float(hi), "n": n}


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


def paired_test_runs(runs_a: Sequence[np.ndarray], runs_b: Sequence[np.ndarray]) -> dict[str, Any]:
    """A worse than B on every pairing of their runs (seeds): `paired_test` of each run of A
    against each run of B, the least significant one reported. An intersection-union test: it
    holds its level without correction, and a gap that one seed of A closes is no gap."""
    tests = [paired_test(a, b) for a in runs_a for b in runs_b]
    worst = max(tests, key=lambda t: t["p_value"])
    return {**worst, "test": f"{PAIRED_TEST}, every pairing of seeds", "pairs": len(tests)}
