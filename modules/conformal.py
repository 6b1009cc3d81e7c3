"""Split-conformal forecast intervals: calibrate on a forecaster's validation residuals, bound
new forecasts, measure coverage. Torch-free (numpy, pydantic and schemas.intervals), so a
predict path on ONNX Runtime uses it without importing torch.

The method (split conformal; Vovk et al. 2005, Lei et al. 2018), per horizon step h: the n
calibration residuals r_i = |y_ih - ŷ_ih| in the model's scaled units (targets are scaled per
series, so one half-width serves every series at its own scale); for level a the half-width is
the k-th smallest r_i, k = ceil((n + 1)·a). If the calibration windows and a new window are
exchangeable, the new |y_h - ŷ_h| is at most that with probability >= a. When k > n no
residual is large enough to promise a per step.

Then, with H > 1, the steps are pooled with a per-step scale: s_h = mean_i r_ih (floored at
SCALE_FLOOR), the n·H normalised scores r_ih / s_h form one sample, q is its
ceil((nH + 1)·a)-th smallest, and step h's half-width is q·s_h (the band records `pooled`).
This assumes the normalised errors of the steps are alike (exchangeable across steps), while
the steps of one window are dependent, so its guarantee is weaker than the per-step one: it
holds approximately, not exactly. Only when the pooled rank also exceeds n·H (or H = 1) is
the interval unbounded: None in the card, ±inf from `bounds`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from schemas.files import atomic_write
from schemas.intervals import Band, Conformal, check_levels

TOLERANCE = 1e-9  # (n + 1)·a computed as 80.00000000001 is still rank 80
SCALE_FLOOR = 1e-12  # a step whose residuals are all 0 still divides


def rank(n: int, level: float) -> int:
    """k = ceil((n + 1)·level): the rank of the residual that is the level's half-width."""
    return max(1, math.ceil((n + 1) * level - TOLERANCE))


def kth_smallest(r: np.ndarray, k: int) -> np.ndarray:
    """The k-th smallest of each column of finite-or-inf values (k <= rows)."""
    return np.partition(r, k - 1, axis=0)[k - 1]


def as_quantiles(q: np.ndarray) -> list[float | None]:
    """Half-widths for the card: finite values as floats, the rest None (unbounded)."""
    return [float(v) if np.isfinite(v) else None for v in q]


def half_widths(residuals: np.ndarray, level: float) -> list[float | None]:
    """Per horizon step, the rank(n, level)-th smallest |residual| of (N, H) residuals;
    None everywhere when that rank exceeds N, and None for a step whose value is not finite."""
    n, h = residuals.shape
    k = rank(n, level)
    if k > n:
        return [None] * h
    r = np.abs(residuals)
    r = np.where(np.isfinite(r), r, np.inf)  # a NaN forecast: a residual larger than any
    return as_quantiles(kth_smallest(r, k))  # (H,) the k-th smallest of each column


def pooled_half_widths(residuals: np.ndarray, level: float) -> list[float | None]:
    """q·s_h per step: s_h the mean |residual| of step h, q the rank(N·H, level)-th smallest
    of the N·H scores |r_ih| / s_h; None everywhere when that rank exceeds N·H (or N = 0)."""
    n, h = residuals.shape
    k = rank(n * h, level)
    if n == 0 or k > n * h:
        return [None] * h
    r = np.abs(residuals)
    r = np.where(np.isfinite(r), r, np.inf)  # counts as larger than any, as per step
    finite = np.where(np.isfinite(r), r, np.nan)
    with np.errstate(all="ignore"):
        scale = np.nan_to_num(np.nanmean(finite, axis=0), nan=SCALE_FLOOR)  # (H,)
    scale = np.maximum(scale, SCALE_FLOOR)
    q = kth_smallest((r / scale).reshape(-1, 1), k)[0]
    return as_quantiles(q * scale)


def band(residuals: np.ndarray, level: float) -> Band:
    """A level's band: per step when its rank fits in N, else pooled across steps (H > 1);
    `pooled` only when pooling bounded it."""
    n, h = residuals.shape
    if rank(n, level) <= n or h == 1:
        return Band(level=level, quantiles=half_widths(residuals, level))
    quantiles = pooled_half_widths(residuals, level)
    return Band(level=level, quantiles=quantiles, pooled=any(q is not None for q in quantiles))


def calibrate(residuals: np.ndarray, levels: list[float]) -> Conformal:
    """The calibration of (N, H) validation residuals y - ŷ (scaled units) at `levels`."""
    if residuals.ndim != 2:
        raise ValueError(f"residuals must be (N, H), not shape {residuals.shape}")
    levels = check_levels(list(levels))
    return Conformal(n=len(residuals),
                     bands=[band(residuals, a) for a in levels])


def write_residuals(path: Path, residuals: np.ndarray, sid: np.ndarray) -> Path:
    """(N, H) validation residuals (scaled units) and each window's series index, atomically."""
    def save(p: Path) -> None:
        with p.open("wb") as f:
            np.savez(f, residuals=residuals.astype(np.float32), sid=sid.astype(np.int32))
    return atomic_write(path, save)


def read_residuals(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (N, H) residuals and (N,) series indices `write_residuals` wrote (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return z["residuals"], z["sid"]


def widths(band: Band) -> np.ndarray:
    """A level's half-widths, (H,), unbounded steps as inf."""
    return np.array([np.inf if q is None else q for q in band.quantiles], dtype=float)


def bounds(yhat: np.ndarray, conformal: Conformal
           ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(level, lo (N, H), hi (N, H)) for each calibrated level, around (N, H) forecasts in
    the same scaled units as the calibration; an unbounded step is -inf .. inf."""
    out = []
    for band in conformal.bands:
        q = widths(band)  # (H,)
        if yhat.ndim != 2 or yhat.shape[1] != len(q):
            raise ValueError(f"forecasts of shape {yhat.shape} do not match a calibration "
                             f"of {len(q)} horizon steps")
        out.append((band.level, yhat - q, yhat + q))  # (N, H) each
    return out


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """The share of values of `y` within [lo, hi] (any equal shapes); NaN when empty."""
    if y.size == 0:
        return math.nan
    return float(np.mean((lo <= y) & (y <= hi)))


def coverages(y: np.ndarray, yhat: np.ndarray, conformal: Conformal
              ) -> list[tuple[float, float]]:
    """(level, share of y covered) for each level, y and ŷ (N, H) in scaled units."""
    return [(level, coverage(y, lo, hi)) for level, lo, hi in bounds(yhat, conformal)]


def level_name(level: float) -> str:
    """A level as a percentage without trailing zeros: 0.8 -> '80', 0.975 -> '97.5'."""
    return f"{round(100 * level, 6):g}"


def columns(level: float) -> tuple[str, str]:
    """The output columns of a level's bounds: ('lo_80', 'hi_80'), ('lo_97.5', 'hi_97.5')."""
    name = level_name(level)
    return f"lo_{name}", f"hi_{name}"
