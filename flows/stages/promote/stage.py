"""Stage `promote`: apply the promotion policy, write the promoted artifact and the report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from flows.evidence.aggregate import run_errors
from flows.stages.promote.review import write_reports
from flows.stages.promote.rule import against_champion, decide
from schemas.artifacts import Metrics, ModelCard, read, read_state, write
from schemas.config import Config, PromoteConfig
from schemas.errors import RunFailedError
from schemas.files import make_temp_dir
from schemas.layout import DECISION, MODEL_CARD, PREPROCESSING, WEIGHTS, Job, Layout


def replace_dir(new: Path, target: Path) -> None:
    """Put the complete folder `new` at `target` (for `seqarena stage promote`, where DVC
    has removed the old one; compare runs write into a fresh run folder)."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    new.rename(target)


def promote(policy: PromoteConfig, layout: Layout) -> dict[str, Any]:
    """Decide, write promoted/ (model + preprocessing state + decision) and report.md."""
    state = read_state(layout)
    metrics = read(Metrics, layout.metrics)
    rows = metrics.rows()
    frame = pl.read_parquet(layout.errors)
    decided = decide(rows, state.task, policy, frame)
    holdout = run_errors(frame.filter(pl.col("fold") == 0))
    version = Path(os.path.realpath(layout.champion)).name if layout.champion.exists() else None
    decision = against_champion(decided, rows, holdout, policy, version)
    new = make_temp_dir(layout.root, ".promoted-")
    if decision.winner:
        row = next(r for r in rows if r.model == decision.winner)
        job = Job(decision.winner, row.kept_seed or 0, 0)
        shutil.copy2(layout.weights(job), new / WEIGHTS)
        card = read(ModelCard, layout.card(job))  # with evaluate's interval calibration
        write(new / MODEL_CARD, card.model_copy(update={"conformal": row.conformal}))
        write(new / PREPROCESSING, state)
    write(new / DECISION, decision)
    replace_dir(new, layout.promoted)
    write(layout.decision, decision)
    write_reports(layout)
    if not any(r.trained for r in rows):
        raise RunFailedError(f"every model failed to train; see {layout.report}.")
    return decision.model_dump(mode="json")


def run(cfg: Config, layout: Layout) -> dict[str, Any]:
    """`promote` with its section of `cfg`."""
    return promote(cfg.promote, layout)
