"""Predictions of a trained module, batched, and forecasts mapped back to the user's units."""

from __future__ import annotations

import numpy as np
import torch

from modules.batching import Ragged, predict_ragged
from modules.lit import SequenceModule
from schemas.prepared import ForecastState


class Scaler:
    """Maps scaled targets back to the user's units, per series."""

    def __init__(self, state: ForecastState) -> None:
        stats = {r.series: r for r in state.scaling if r.column == state.target}
        self.mean = np.array([stats[s].mean for s in state.series])
        self.std = np.array([stats[s].std for s in state.series])

    def inverse(self, scaled: np.ndarray, sid: np.ndarray) -> np.ndarray:
        """(N, H) scaled values of series `sid` (N,) in the user's units."""
        return scaled * self.std[sid][:, None] + self.mean[sid][:, None]


@torch.no_grad()
def predict(module: SequenceModule, inputs: tuple, batch: int = 512) -> np.ndarray:
    """Model outputs for the whole split, in batches, in the split's order: (N, H) forecasts,
    or (N, C) logits from sequences (a Ragged) batched by length."""
    if isinstance(inputs[0], Ragged):
        return predict_ragged(module, inputs[0], batch).numpy()
    n = len(inputs[0])
    return torch.cat([module(*(t[i : i + batch] for t in inputs))
                      for i in range(0, n, batch)]).numpy()
