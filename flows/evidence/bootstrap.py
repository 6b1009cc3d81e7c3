"""The bootstrap behind intervals and non-inferiority: test items resampled in blocks within
strata (classes, or series with blocks of `horizon` consecutive windows), the same draws for
every model, combined with a resampling of each model's seeds; any metric recomputed from
weighted per-item sums, so each draw is the metric of one plausible test set and seed set."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

DRAWS = 2000  # bootstrap draws; a 95% percentile bound moves by about 0.1 sd between seeds
CHUNK = 250  # draws held in memory at once: CHUNK x items float32 weights
FORECAST_SUMS = {"mae": "abs_error", "rmse": "sq_error", "smape": "smape_error", "mase": "error"}


@dataclass(frozen=True)
class Units:
    """The test items of a comparison in one order (fold, item), each with its block; blocks
    are drawn with replacement within their stratum."""

    key: pl.DataFrame  # fold, item, index: where each item sits in the common order
    block: np.ndarray  # (N,) block index of each item, 0 .. n_blocks - 1
    strata: list[np.ndarray]  # the block indices of each stratum


def units(frame: pl.DataFrame) -> Units:
    """Items, blocks and strata from an error frame (columns fold, item, stratum, block).
    Strata with a single block are pooled into one, so that every block can move."""
    items = (frame.select("fold", "item", "stratum", "block").unique(["fold", "item"])
             .sort("fold", "item").with_row_index("index"))
    pairs = items.select("fold", "stratum", "block").unique().sort("fold", "stratum", "block")
    pairs = pairs.with_row_index("block_id")
    items = items.join(pairs, on=["fold", "stratum", "block"]).sort("index")
    per = pairs.group_by("stratum", maintain_order=True).agg("block_id")
    strata = [np.asarray(ids, dtype=np.int64) for ids in per["block_id"].to_list()]
    lone = [s for s in strata if len(s) == 1]
    strata = [s for s in strata if len(s) > 1] + ([np.concatenate(lone)] if lone else [])
    return Units(items.select("fold", "item", "index"),
                 items["block_id"].to_numpy().astype(np.int64), strata)


def block_counts(u: Units, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n_blocks): how often each block is drawn; each stratum keeps its size."""
    counts = np.zeros((draws, int(u.block.max()) + 1), dtype=np.float32)
    for ids in u.strata:
        counts[:, ids] = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=draws)
    return counts


def item_columns(part: pl.DataFrame, task: str, n_classes: int) -> np.ndarray:
    """(n, k) per-item values whose weighted sums give every metric: a one, then the forecast
    errors or the classification indicators (correct, truth, prediction, truth if correct)."""
    ones = np.ones((part.height, 1))
    if task == "forecast":
        return np.hstack([ones, part.select(list(FORECAST_SUMS.values())).to_numpy()])
    truth, pred = part["truth"].to_numpy(), part["pred"].to_numpy()
    eye = np.eye(n_classes)
    right = (truth == pred).astype(float)[:, None]
    return np.hstack([ones, right, eye[truth], eye[pred], eye[truth] * right])


def metric_of(sums: np.ndarray, task: str, metric: str, n_classes: int) -> np.ndarray:
    """The metric of each draw from its weighted sums (draws, k), as scoring.py defines it."""
    total = np.where(sums[:, 0] > 0, sums[:, 0], np.nan)
    if task == "forecast":
        mean = sums[:, 1 + list(FORECAST_SUMS).index(metric)] / total
        return np.sqrt(mean) if metric == "rmse" else mean
    if metric == "accuracy":
        return sums[:, 1] / total
    k = n_classes
    support, predicted, tp = sums[:, 2:2 + k], sums[:, 2 + k:2 + 2 * k], sums[:, 2 + 2 * k:]
    seen = support + predicted
    f1 = np.divide(2 * tp, seen, out=np.zeros_like(tp), where=seen > 0)
    present = (seen > 0).sum(axis=1)
    return np.where(present > 0, f1.sum(axis=1) / np.maximum(present, 1), np.nan)


class Bootstrap:
    """Per model, `draws` values of a metric: each draw reweights the test items (shared by
    all models, so differences are paired) and resamples the model's seeds."""

    def __init__(self, frame: pl.DataFrame, task: str, draws: int = DRAWS, seed: int = 0):
        self.frame, self.task, self.draws, self.seed = frame, task, draws, seed
        self.units = units(frame)
        self.n_classes = (int(max(frame["truth"].max(), frame["pred"].max())) + 1
                          if task == "classify" else 0)
        rng = np.random.default_rng(seed)
        self._counts = [block_counts(self.units, min(CHUNK, draws - start), rng)
                        for start in range(0, draws, CHUNK)]
        self._sums: dict[tuple[str, int], np.ndarray] = {}

    @property
    def n_units(self) -> int:
        """Independent resampling units (blocks) in the test items."""
        return int(self.units.block.max()) + 1 if len(self.units.block) else 0

    def _run_sums(self, model: str, seed: int) -> np.ndarray:
        """(draws, k) weighted sums over one seed's items, every fold of it."""
        if (model, seed) not in self._sums:
            part = self.frame.filter((pl.col("model") == model) & (pl.col("seed") == seed))
            at = part.select("fold", "item").join(self.units.key, on=["fold", "item"],
                                                  maintain_order="left")["index"].to_numpy()
            x = item_columns(part, self.task, self.n_classes)
            blocks = self.units.block[at]
            self._sums[(model, seed)] = np.vstack([c[:, blocks] @ x for c in self._counts])
        return self._sums[(model, seed)]

    def values(self, model: str, metric: str) -> np.ndarray:
        """(draws,) the model's metric, its seeds drawn with replacement in each draw."""
        seeds = sorted(self.frame.filter(pl.col("model") == model)["seed"].unique().to_list())
        per_seed = np.stack([metric_of(self._run_sums(model, s), self.task, metric,
                                       self.n_classes) for s in seeds])  # (S, draws)
        if len(seeds) == 1:
            return per_seed[0]
        rng = np.random.default_rng([self.seed, zlib.crc32(model.encode())])
        pick = rng.integers(len(seeds), size=(self.draws, len(seeds)))  # (draws, S)
        return per_seed[pick, np.arange(self.draws)[:, None]].mean(axis=1)

    def interval(self, model: str, metric: str, level: float = 0.95) -> tuple[float, float]:
        """The percentile interval of the model's metric."""
        lo, hi = np.nanquantile(self.values(model, metric), [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)
