"""Did a model learn? A model whose validation loss never improved on its first check, or
whose test errors are not significantly better than the best baseline's, is flagged: its
score says more about the budget than about its architecture."""

from __future__ import annotations

import numpy as np
from scipy import stats

from schemas.artifacts import ModelCard

LEVEL = 0.05  # one-sided test level for "better than the baseline"


def item_errors(task: str, y: np.ndarray, out: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """One error per test item: 0/1 misclassification per sequence, or MASE per window."""
    if task == "classify":
        return (out.argmax(axis=1) != y).astype(float)
    return (np.abs(y - out) / scale[:, None]).mean(axis=1)  # type: ignore[index]


def better_p(task: str, model: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided p-value that the model's errors are lower than the baseline's: a binomial test
    of its correct sequences against the baseline's accuracy, or a Wilcoxon signed-rank test
    of the paired window errors."""
    if task == "classify":
        n, correct = len(model), int((model == 0).sum())
        base_accuracy = float((baseline == 0).mean())
        return float(stats.binomtest(correct, n, base_accuracy, alternative="greater").pvalue)
    diff = model - baseline
    if not np.any(diff):
        return 1.0
    return float(stats.wilcoxon(diff, alternative="less").pvalue)


def diagnose(task: str, card: ModelCard, model: np.ndarray, baseline: np.ndarray,
             baseline_name: str) -> str | None:
    """Why the model did not learn under its budget, with what to try; None if it did."""
    try_more = (f"try train.max_steps={2 * max(card.steps, 1)} (it ran {card.steps}) or another "
                "train.lr")
    if not card.val_improved:
        return (f"did not learn under this budget: its validation loss never improved on the "
                f"first check (step {card.history[0].step if card.history else 0}); {try_more}")
    p = better_p(task, model, baseline)
    if p > LEVEL:
        test = "binomial test" if task == "classify" else "Wilcoxon signed-rank test"
        return (f"did not learn under this budget: on the test split it is not significantly "
                f"better than {baseline_name} ({test}, p = {p:.2g}); {try_more}")
    return None
