"""Live progress: workers write where each training stands, the run shows it (a live table
in a terminal, plain lines at most every 10 s per training elsewhere), and nothing of it is
left in the run folder."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from flows.runtime.progress import PLAIN_S, Board, read_progress
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from modules.training import ProgressFile
from schemas.files import write_text
from schemas.layout import Job, Layout
from schemas.progress import Progress
from tests.helpers import at, tiny_config

JOBS = [Job("lstm", 0), Job("lstm", 1), Job("gru", 0)]


def trainer(step: int, val: float | None = None) -> SimpleNamespace:
    metrics = {} if val is None else {"val_loss": torch.tensor(val)}
    return SimpleNamespace(global_step=step, callback_metrics=metrics, sanity_checking=False)


def report(layout: Layout, job: Job, step: int, val: float | None = None) -> None:
    p = Progress(step=step, max_steps=100, seconds=step / 10, val_loss=val)
    write_text(layout.progress(job), p.model_dump_json())


def test_the_callback_writes_steps_checks_and_the_best_step(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    cb = ProgressFile(path, max_steps=500, every=3600.0)
    cb.on_train_start(trainer(0), None)
    first = Progress.model_validate_json(path.read_bytes())
    assert (first.step, first.max_steps, first.val_loss) == (0, 500, None)
    cb.on_train_batch_end(trainer(7))  # within `every`: not written
    assert Progress.model_validate_json(path.read_bytes()).step == 0
    cb.on_validation_end(trainer(20, 0.5), None)
    cb.on_validation_end(trainer(40, 0.7), None)  # worse: the best step stays 20
    last = Progress.model_validate_json(path.read_bytes())
    assert (last.step, last.val_loss, last.best_step) == (40, pytest.approx(0.7), 20)


def test_plain_lines_at_most_every_10_s_per_training(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    layout, now = Layout(tmp_path), [0.0]
    board = Board(layout, JOBS, live=False, clock=lambda: now[0])
    report(layout, JOBS[0], 10, 0.9)
    with caplog.at_level(logging.INFO, logger="seqarena"):
        board.poll()
        now[0] = PLAIN_S / 2
        report(layout, JOBS[0], 50, 0.8)
        board.poll()  # too soon for a second line
        now[0] = PLAIN_S + 0.1
        board.poll()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "lstm/fold-0/seed-0" in lines[0] and "step 10/100" in lines[0]
    assert "step 50/100" in lines[1] and "val loss 0.8" in lines[1]
    assert "seed-1" not in " ".join(lines)  # not started: no line


def test_the_table_shows_each_training_and_how_it_ended(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    board = Board(layout, JOBS, live=False)
    report(layout, JOBS[0], 60, 0.4)
    report(layout, JOBS[1], 100, 0.3)
    board.poll()
    board.end(JOBS[0], 60)
    board.end(JOBS[1], 100)
    out = io.StringIO()
    Console(file=out, width=160).print(board.table())
    text = out.getvalue()
    assert "training: 2 of 3 done" in text
    assert "stopped early at step 60" in text and "done · val loss 0.3" in text
    assert "waiting for a worker" in text
    assert board.fraction() == pytest.approx(2 / 3)  # gru: the mean budget, no step yet


def test_a_training_reports_while_it_runs_and_leaves_no_progress_file(
        forecast_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out")
    layout = at(cfg)
    validate(cfg, layout)
    preprocess(cfg, layout)
    job = Job("lstm", 0)
    seen: list[Progress] = []
    original = ProgressFile._write

    def spy(self: ProgressFile, trainer: object) -> None:
        original(self, trainer)
        seen.append(read_progress(layout, job))

    monkeypatch.setattr(ProgressFile, "_write", spy)
    card = train_model(cfg.models["lstm"], cfg.train, layout, job)
    assert seen and seen[0].step == 0 and seen[-1].val_loss is not None
    assert seen[-1].max_steps == card["budget"]["max_steps"]
    assert not layout.progress(job).exists()
