"""The training budget: the same for every architecture, counted in optimizer steps, sized
from the training split (torch-free, so the report and the config can use it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.config import TrainConfig

MIN_BATCH = 8  # the batch size is cut for small training sets, down to this
MIN_BATCHES_PER_EPOCH = 4  # ... so that one pass holds at least this many batches
AUTO_EPOCHS = 30  # passes over a large training set, when train.max_steps is unset
MIN_STEPS_FLOOR = 1_000  # updates a small training set still gets
MAX_STEPS_CEILING = 8_000  # updates a huge one gets at most (about 4 minutes for a small LSTM)
WARMUP_SHARE = 20  # the first 1/20 of the budget warms the learning rate up (plateau schedule)
AUTO_CHECKS = 50  # validation checks over the whole budget, when train.val_every is unset
VAL_CHECK_MAX = 2_048  # items a validation check scores: a larger split is sampled (seeded)


@dataclass(frozen=True)
class Budget:
    """One training budget, the same for every architecture, counted in optimizer steps."""

    batch_size: int
    max_steps: int
    min_steps: int
    val_every: int
    patience: int
    min_delta: float
    max_minutes: float | None
    schedule: str = "plateau"
    val_items: int | None = None  # items each check scores (a fixed sample); None: all


    @property
    def warmup_steps(self) -> int:
        """Steps of the linear learning-rate warm-up (none with a constant schedule)."""
        return self.max_steps // WARMUP_SHARE if self.schedule == "plateau" else 0

    @property
    def plateau_patience(self) -> int:
        """Checks without improvement before the learning rate halves: half the patience."""
        return max(1, self.patience // 2)

    def describe(self) -> str:
        """For the report: the budget in words."""
        cap = f", at most {self.max_minutes:g} minutes" if self.max_minutes else ""
        sample = (f" on the same {self.val_items:,} sampled validation items (the kept "
                  "weights then scored on all)" if self.val_items else "")
        return (f"at most {self.max_steps:,} optimizer steps of batch {self.batch_size} "
                f"(at least {self.min_steps:,}){cap}; validation every {self.val_every} "
                f"steps{sample}; "
                f"early stopping after {self.patience} checks without an improvement of "
                f"{self.min_delta:g}; {self._lr_text()}; the weights of the best check are "
                "kept")

    def _lr_text(self) -> str:
        if self.schedule == "constant":
            return "a constant learning rate"
        return (f"the learning rate warms up over the first {self.warmup_steps} steps and "
                f"halves after {self.plateau_patience} checks in a row without improvement")


def plan_batch(tc: TrainConfig, n_train: int) -> int:
    """train.batch_size, cut for a small training split so a pass holds MIN_BATCHES_PER_EPOCH
    batches (never below MIN_BATCH)."""
    return min(tc.batch_size, max(MIN_BATCH, math.ceil(n_train / MIN_BATCHES_PER_EPOCH)))


def plan_budget(tc: TrainConfig, batch: int, per_epoch: int, n_val: int = 0) -> Budget:
    """The budget for `per_epoch` batches of `batch` per pass over the training split (long
    classification sequences make smaller batches, hence more of them). Unset values follow
    the data: at least MIN_STEPS_FLOOR updates, about AUTO_EPOCHS passes, at most
    MAX_STEPS_CEILING; train.max_epochs caps the passes. A validation split of more than
    VAL_CHECK_MAX items (`n_val`) is checked on a fixed sample of that many."""
    auto = min(max(AUTO_EPOCHS * per_epoch, MIN_STEPS_FLOOR), MAX_STEPS_CEILING)
    max_steps = tc.max_steps or auto
    if tc.max_epochs:
        max_steps = min(max_steps, tc.max_epochs * per_epoch)
    val_every = tc.val_every or max(1, max_steps // AUTO_CHECKS)
    min_steps = tc.min_steps if tc.min_steps is not None else max_steps // 5
    return Budget(batch_size=batch, max_steps=max_steps, min_steps=min(min_steps, max_steps),
                  val_every=min(val_every, max_steps), patience=tc.patience,
                  min_delta=tc.min_delta, max_minutes=tc.max_minutes, schedule=tc.schedule,
                  val_items=VAL_CHECK_MAX if n_val > VAL_CHECK_MAX else None)
