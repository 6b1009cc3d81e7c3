"""Split-conformal intervals through the stages: every forecaster's card holds its
calibration, evaluate measures its test coverage, promote copies it and reports it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.report.terminal import print_summary
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from modules.conformal import calibrate
from modules.inference import predict
from modules.model_files import load_model
from modules.training import split_tensors
from schemas.artifacts import Decision, Metrics, ModelCard, read, read_arrays, read_state
from schemas.layout import Job, Layout
from tests.helpers import TINY_MODELS, at, run_stages, tiny_config


def test_a_forecaster_calibrates_on_its_validation_residuals(forecast_csv: Path,
                                                             tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"gru": TINY_MODELS["gru"]})
    layout = at(cfg)
    validate(cfg, layout)
    preprocess(cfg, layout)
    card = ModelCard.model_validate(train_model(cfg.models["gru"], cfg.train, layout,
                                                Job("gru"), [0.5, 0.9]))
    state, arrays = read_state(layout), read_arrays(layout)
    module, _ = load_model(layout.job_dir(Job("gru")), state)
    val = split_tensors(arrays, "forecast", "val")
    residuals = arrays["y_val"] - predict(module, val[:-1])  # (N, H) of the kept weights
    assert card.conformal == calibrate(residuals, [0.5, 0.9])
    assert card.conformal.n == len(arrays["y_val"])
    assert all(len(b.quantiles) == state.horizon for b in card.conformal.bands)
    off = train_model(cfg.models["gru"], cfg.train, layout, Job("gru"), [])
    assert off["conformal"] is None  # forecast.intervals: [] turns them off


def test_a_classifier_has_no_calibration_and_old_cards_still_load(classify_csv: Path,
                                                                  tmp_path: Path) -> None:
    cfg = tiny_config(classify_csv, tmp_path / "out", models={"gru": TINY_MODELS["gru"]})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    raw = train_model(cfg.models["gru"], cfg.train, at(cfg), Job("gru"), [0.8])
    assert raw["conformal"] is None
    del raw["conformal"]  # a card written before intervals existed
    assert ModelCard.model_validate(raw).conformal is None


@pytest.mark.slow  # a whole pipeline run: 2 models x 2 seeds x 2 folds
def test_every_run_is_calibrated_covered_promoted_and_reported(tmp_path: Path) -> None:
    from tests.helpers import forecast_frame

    data = tmp_path / "f.csv"
    forecast_frame(n_series=3, length=120).write_csv(data)
    models = {"gru": TINY_MODELS["gru"], "linear": {}}
    cfg = tiny_config(data, tmp_path / "out", **{"models": models, "train.seeds": 2,
                                                 "forecast.folds": 2})
    run_stages(cfg)
    layout = Layout(tmp_path / "out")
    jobs = cfg.jobs(2)
    assert len(jobs) == 8
    for job in jobs:
        card = read(ModelCard, layout.card(job))
        assert card.conformal is not None and card.conformal.levels == [0.8, 0.95], job
        assert all(len(b.quantiles) == 3 and None not in b.quantiles
                   for b in card.conformal.bands)
    metrics, decision = read(Metrics, layout.metrics), read(Decision, layout.decision)
    for row in metrics.rows():
        if row.kind == "model":
            assert [(c.level, c.runs) for c in row.coverage or []] == [(0.8, 4), (0.95, 4)]
            assert all(0.5 < c.covered <= 1 for c in row.coverage or [])
        else:
            assert row.coverage is None, row.model
    board = pl.read_csv(layout.leaderboard)
    assert board.filter(pl.col("kind") == "model")["covered_80"].is_not_null().all()
    assert board.filter(pl.col("kind") == "baseline")["covered_95"].is_null().all()
    kept = next(r.kept_seed for r in metrics.rows() if r.model == decision.winner)
    promoted = read(ModelCard, layout.promoted / "model.json")
    assert promoted.conformal == read(ModelCard,
                                      layout.card(Job(decision.winner, kept, 0))).conformal
    report = layout.report.read_text()
    assert "## Forecast intervals (split-conformal on validation)" in report
    assert "| model | 80% covered | 95% covered |" in report
    row = next(r for r in metrics.rows() if r.model == "gru")
    assert f"| gru | {row.coverage[0].covered:.1%} | {row.coverage[1].covered:.1%} |" in report
    html = layout.report_html.read_text()
    assert "Forecast intervals (split-conformal on validation)</h2>" in html
    assert "80% and 95% split-conformal intervals" in html  # the plot's band, captioned
    out = io.StringIO()
    print_summary(metrics, decision, out)
    assert "Forecast intervals (split-conformal on validation)" in out.getvalue()
    assert "95% covered" in out.getvalue()
    assert np.isfinite(row.coverage[0].covered)
