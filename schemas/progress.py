"""A training's progress while it runs: written by its worker about once a second, read by
the process that shows the run (flows/runtime/progress.py), removed when the model card is
written."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Progress(BaseModel):
    """Where one training stands: optimizer steps done of its budget, its pace and its
    latest validation loss."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=0)
    max_steps: int = Field(ge=1)
    seconds: float = Field(ge=0)  # since fit started
    val_loss: float | None = None  # the latest check's; None before the first
    best_step: int | None = None
