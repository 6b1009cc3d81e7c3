"""Test-split metrics computed by torchmetrics: forecast errors, classification scores, and
the errors broken down by horizon step (forecasting) or sequence length (classification)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)
from torchmetrics.functional.regression import (
    mean_absolute_error,
    mean_squared_error,
    symmetric_mean_absolute_percentage_error,
)


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A float64 tensor of `a` (float64 keeps the metrics exact to ~1e-12)."""
    return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64))  # views: strided


def _scaled(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Truth and forecast (N, H) divided by each window's MASE scale (N,)."""
    s = np.asarray(scale, dtype=np.float64)[:, None]
    return _tensor(y / s), _tensor(yhat / s)


def _labels(a: np.ndarray) -> torch.Tensor:
    """An int64 tensor of class indices."""
    return torch.as_tensor(np.asarray(a, dtype=np.int64))


def forecast_metrics(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, sMAPE (%, 0..200, a 0/0 cell counts 0) and MASE over all cells of (N, H)."""
    t, p = _tensor(y), _tensor(yhat)
    t_scaled, p_scaled = _scaled(y, yhat, scale)
    return {"mae": float(mean_absolute_error(p, t)),
            "rmse": float(mean_squared_error(p, t, squared=False)),
            "smape": float(100 * symmetric_mean_absolute_percentage_error(p, t)),
            "mase": float(mean_absolute_error(p_scaled, t_scaled))}


SMAPE_EPS = 1.17e-06  # torchmetrics' floor for |y| + |yhat|


def window_errors(y: np.ndarray, yhat: np.ndarray) -> dict[str, np.ndarray]:
    """Each window's mean absolute, squared and sMAPE (%) error over its H steps: their
    means over windows (rmse: the root of the mean) are forecast_metrics' values."""
    diff = np.abs(np.asarray(y, np.float64) - np.asarray(yhat, np.float64))  # (N, H)
    floor = np.maximum(np.abs(y) + np.abs(yhat), SMAPE_EPS)
    return {"abs_error": diff.mean(axis=1), "sq_error": (diff**2).mean(axis=1),
            "smape_error": 200 * (diff / floor).mean(axis=1)}


def horizon_errors(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> list[float]:
    """MASE at each horizon step: H values, one per column of y, yhat (N, H)."""
    t, p = _scaled(y, yhat, scale)
    per_step = mean_absolute_error(p, t, num_outputs=t.shape[1])
    return [float(v) for v in per_step.reshape(-1)]


def classify_metrics(y: np.ndarray, yhat: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 averaged over the classes present in the truth or predictions."""
    t, p = _labels(y), _labels(yhat)
    per_class = multiclass_f1_score(p, t, num_classes=n_classes, average="none")
    present = _labels(np.union1d(y, yhat))
    accuracy = multiclass_accuracy(p, t, num_classes=n_classes, average="micro")
    return {"accuracy": float(accuracy), "macro_f1": float(per_class[present].mean())}


def per_class(y: np.ndarray, yhat: np.ndarray, n_classes: int) -> dict[str, list[float]]:
    """Precision, recall and F1 of each class (index order), and its test support."""
    t, p = _labels(y), _labels(yhat)
    kw = {"num_classes": n_classes, "average": "none"}
    return {"precision": multiclass_precision(p, t, **kw).tolist(),
            "recall": multiclass_recall(p, t, **kw).tolist(),
            "f1": multiclass_f1_score(p, t, **kw).tolist(),
            "support": np.bincount(np.asarray(y), minlength=n_classes).tolist()}


def length_edges(lengths: np.ndarray, bins: int) -> np.ndarray:
    """Bucket edges: `bins` quantiles of the lengths (each one a real length), merged when equal."""
    return np.unique(np.quantile(lengths, np.linspace(0, 1, bins + 1), method="lower"))


def length_errors(y: np.ndarray, yhat: np.ndarray, lengths: np.ndarray,
                  bins: int = 4) -> list[dict[str, Any]]:
    """Error rate per sequence-length bucket: [edge_k, edge_k+1), the last one closed.
    Each edge is a test length, so no bucket is empty."""
    lengths, wrong = np.asarray(lengths), np.asarray(y) != np.asarray(yhat)
    edges = length_edges(lengths, bins)
    bucket = np.searchsorted(edges[1:-1], lengths, side="right")  # 0 .. len(edges) - 2
    rows = []
    for k in range(max(len(edges) - 1, 1)):
        inside = bucket == k
        rows.append({"min_length": int(lengths[inside].min()),
                     "max_length": int(lengths[inside].max()),
                     "n": int(inside.sum()), "error_rate": float(wrong[inside].mean())})
    return rows
