"""Did a model learn? A model whose validation loss never improved on its first check, or
whose test errors are not significantly better than the best baseline's, is flagged: its
score says more about the budget than about its architecture."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from schemas.artifacts import ModelCard

LEVEL = 0.05  # one-sided test level for "better than the baseline"


def item_errors(task: str, y: np.ndarray, out: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """One error per test item: 0/1 misclassification per sequence, or MASE per window."""
    if task == "classify":
        return (out.argmax(axis=1) != y).astype(float)
    return (np.abs(y - out) / scale[:, None]).mean(axis=1)  # type: ignore[index]


def non_overlapping(sid: np.ndarray, pos: np.ndarray, horizon: int) -> np.ndarray:
    """Test windows that share no target step: every `horizon`-th window of each series.
    Stride-1 windows share horizon - 1 targets, so their errors are far from independent."""
    return _offsets(sid, pos) % horizon == 0


def _offsets(sid: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Each window's position after its series' first test window."""
    first = np.full(int(sid.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, sid, pos)
    return pos - first[sid]


def window_blocks(sid: np.ndarray, pos: np.ndarray, horizon: int) -> np.ndarray:
    """Each test window's block within its series: `horizon` consecutive windows, starting at
    each independent one, so windows of two blocks share targets only at their border."""
    return _offsets(sid, pos) // horizon


def better_p(task: str, model: np.ndarray, baseline: np.ndarray) -> tuple[float, int]:
    """One-sided p-value that the model's errors are lower than the baseline's on the same
    items, and how many items differ: McNemar's exact test on the sequences one of the two
    gets wrong, or a Wilcoxon signed-rank test of paired window errors."""
    diff = model - baseline
    differ = int(np.count_nonzero(diff))
    if differ == 0:
        return 1.0, 0
    if task == "classify":
        wins = int((diff < 0).sum())  # the model right where the baseline is wrong
        return float(stats.binomtest(wins, differ, 0.5, alternative="greater").pvalue), differ
    return float(stats.wilcoxon(diff, alternative="less").pvalue), differ


def _advice(card: ModelCard) -> str:
    budget = int(card.budget.get("max_steps", card.steps))
    if card.stopped == "early_stopping":
        return (f"it stopped early at step {card.steps} of {budget}: try a lower train.lr or a "
                "higher train.patience")
    if card.stopped == "max_minutes":
        return f"the time cap stopped it at step {card.steps}: try a higher train.max_minutes"
    return f"try train.max_steps={2 * budget} (it used all {budget}) or another train.lr"


def diagnose(task: str, card: ModelCard, model: np.ndarray, baseline: np.ndarray,
             baseline_name: str) -> str | None:
    """Why the model did not learn under its budget, with what to try; None if it did, or
    if too few test items differ for any test to tell."""
    if not card.val_improved:
        first = card.history[0].step if card.history else 0
        return (f"did not learn under this budget: its validation loss never improved on the "
                f"first check (step {first}); {_advice(card)}")
    p, differ = better_p(task, model, baseline)
    if differ and 0.5**differ > LEVEL:
        return None  # even a model better everywhere could not be told from the baseline
    if math.isnan(p) or p > LEVEL:
        test = "McNemar's exact test" if task == "classify" else "Wilcoxon signed-rank test"
        return (f"did not learn under this budget: on the test split it is not significantly "
                f"better than {baseline_name} ({test}, p = {p:.2g}); {_advice(card)}")
    return None
