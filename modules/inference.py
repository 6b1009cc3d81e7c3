"""Predictions of a trained module, batched, and forecasts mapped back to the user's units."""

from __future__ import annotations

import numpy as np
import torch

from modules.batching import Ragged, predict_ragged
from modules.lit import SequenceModule


@torch.no_grad()
def predict(module: SequenceModule, inputs: tuple, batch: int = 512) -> np.ndarray:
    """Model outputs for the whole split, in batches, in the split's order: (N, H) forecasts,
    or (N, C) logits from sequences (a Ragged) batched by length."""
    if isinstance(inputs[0], Ragged):
        return predict_ragged(module, inputs[0], batch).numpy()
    n = len(inputs[0])
    return torch.cat([module(*(t[i : i + batch] for t in inputs))
                      for i in range(0, n, batch)]).numpy()


class TorchModel:
    """A trained module behind the predict engine's interface (numpy in, numpy out)."""

    def __init__(self, module: SequenceModule) -> None:
        self.module = module

    def forecast(self, x: np.ndarray) -> np.ndarray:
        """(N, L, F) windows -> (N, H) scaled forecasts."""
        return predict(self.module, (torch.from_numpy(np.ascontiguousarray(x, np.float32)),))

    def classify(self, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Sequences (concatenated rows, lengths) -> (N, C) logits, in order."""
        return predict(self.module, (Ragged.from_numpy(rows, lengths),))
