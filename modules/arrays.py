"""Inference arrays without torch: forecast windows, length-sorted padded batches, and the
scaling back to the user's units; the PyTorch path (modules/batching.py) and the ONNX Runtime
path (modules/onnx_engine.py) cut the same batches from these."""

from __future__ import annotations

import numpy as np

from schemas.prepared import ForecastState

MAX_BATCH_CELLS = 32 * 1024**2  # sequences x steps^2 per batch (modules/batching.py says why)


class Scaler:
    """Maps scaled targets back to the user's units, per series."""

    def __init__(self, state: ForecastState) -> None:
        stats = {r.series: r for r in state.scaling if r.column == state.target}
        self.mean = np.array([stats[s].mean for s in state.series])
        self.std = np.array([stats[s].std for s in state.series])

    def inverse(self, scaled: np.ndarray, sid: np.ndarray) -> np.ndarray:
        """(N, H) scaled values of series `sid` (N,) in the user's units."""
        return scaled * self.std[sid][:, None] + self.mean[sid][:, None]


def fitting(batch_size: int, longest: int) -> int:
    """Sequences per batch: batch_size, or fewer when so many of `longest` steps would pass
    MAX_BATCH_CELLS (never fewer than one)."""
    return max(1, min(batch_size, MAX_BATCH_CELLS // max(longest, 1) ** 2))


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: sequences by ascending length, each batch under the cell budget."""
    order, batches, start = np.argsort(lengths, kind="stable"), [], 0
    while start < len(order):
        longest = int(lengths[order[min(start + batch_size, len(order)) - 1]])
        batches.append(order[start : start + fitting(batch_size, longest)])
        start += len(batches[-1])
    return batches


def windows(rows: np.ndarray, starts: np.ndarray, lookback: int) -> np.ndarray:
    """Forecast input windows rows[s : s + lookback] for each start: (N, L, F)."""
    return rows[starts[:, None] + np.arange(lookback)]


def padded(rows: np.ndarray, lengths: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The sequences `idx` of concatenated `rows`, right-padded with zeros: (B, T, F)."""
    offsets = np.cumsum(lengths) - lengths
    out = np.zeros((len(idx), int(lengths[idx].max()), rows.shape[1]), dtype=rows.dtype)
    for i, (s, n) in enumerate(zip(offsets[idx], lengths[idx], strict=True)):
        out[i, :n] = rows[s : s + n]
    return out
