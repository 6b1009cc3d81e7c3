"""Split-conformal intervals through the stages: every forecaster keeps its validation
residuals, evaluate calibrates each run across origins and measures its test coverage,
promote writes the kept run's calibration into the promoted card and reports it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.report.terminal import print_summary
from flows.stages.evaluate.forecast_sample import ForecastSample
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from modules.conformal import read_residuals
from modules.inference import predict
from modules.model_files import load_model
from modules.training import split_tensors
from schemas.artifacts import Decision, Metrics, ModelCard, read, read_arrays, read_state
from schemas.layout import Job, Layout
from tests.helpers import TINY_MODELS, at, run_stages, tiny_config


def test_a_forecaster_keeps_its_validation_residuals(forecast_csv: Path, tmp_path: Path
                                                     ) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"gru": TINY_MODELS["gru"]})
    layout = at(cfg)
    validate(cfg, layout)
    preprocess(cfg, layout)
    card = ModelCard.model_validate(train_model(cfg.models["gru"], cfg.train, layout,
                                                Job("gru"), [0.5, 0.9]))
    assert card.conformal is None  # evaluate calibrates, across origins
    state, arrays = read_state(layout), read_arrays(layout)
    module, _ = load_model(layout.job_dir(Job("gru")), state)
    val = split_tensors(arrays, "forecast", "val")
    residuals = arrays["y_val"] - predict(module, val[:-1])  # (N, H) of the kept weights
    kept, sid = read_residuals(layout.residuals(Job("gru")))
    np.testing.assert_allclose(kept, residuals, atol=1e-6)
    np.testing.assert_array_equal(sid, arrays["sid_val"])
    assert kept.shape == (len(arrays["y_val"]), state.horizon)
    layout.residuals(Job("gru")).unlink()
    train_model(cfg.models["gru"], cfg.train, layout, Job("gru"), [])
    assert not layout.residuals(Job("gru")).exists()  # forecast.intervals: [] turns them off


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
        assert read(ModelCard, layout.card(job)).conformal is None, job
        assert layout.residuals(job).exists(), job
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
    row = next(r for r in metrics.rows() if r.model == decision.winner)
    assert promoted.conformal == row.conformal
    assert promoted.conformal is not None and promoted.conformal.levels == [0.8, 0.95]
    assert promoted.conformal.origins == 2  # fold 0's validation windows and fold 1's
    n = sum(len(read_residuals(layout.residuals(Job(decision.winner, kept, k)))[0])
            for k in (0, 1))
    assert promoted.conformal.n == n
    assert all(len(b.quantiles) == 3 and None not in b.quantiles
               for b in promoted.conformal.bands)
    state, arrays = read_state(layout), read_arrays(layout)  # the plot draws the kept run
    module, _ = load_model(layout.job_dir(Job(decision.winner, kept, 0)), state)
    out = predict(module, split_tensors(arrays, "forecast", "test")[:-1])
    sample = ForecastSample(state, arrays)
    sample.add("model", out, decision.winner)
    drawn = pl.read_parquet(layout.forecasts).filter(pl.col("model") == decision.winner)
    assert drawn.sort("series", "step")["value"].to_list() == pytest.approx(
        sample.frame().filter(pl.col("kind") == "model").sort("series", "step")["value"]
        .to_list(), abs=1e-5)
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


def test_a_fold_pools_its_own_and_the_deeper_folds_residuals_in_its_own_units(
        tmp_path: Path) -> None:
    from flows.stages.evaluate.intervals import Units, calibration, converted
    from modules.conformal import calibrate, write_residuals

    layout = Layout(tmp_path)
    units = [Units({"a": 2.0, "b": 10.0}, ["a", "b"]),  # fold 0's scale per series
             Units({"b": 5.0, "a": 1.0}, ["b", "a"])]  # fold 1: other scales, other order
    r0 = np.array([[0.5, 1.0], [1.0, 0.5]])
    r1 = np.array([[2.0, 4.0], [-3.0, 1.0], [0.2, 0.4]])
    sid1 = np.array([0, 1, 0])  # fold 1's series b, a, b
    for fold, (r, sid) in enumerate([(r0, np.array([0, 1])), (r1, sid1)]):
        job = Job("lstm", 3, fold)
        layout.job_dir(job).mkdir(parents=True)
        write_residuals(layout.residuals(job), r, sid)
    in_fold0 = converted(r1, sid1, units[1], units[0])  # b: x 5/10, a: x 1/2
    np.testing.assert_allclose(in_fold0, [[1.0, 2.0], [-1.5, 0.5], [0.1, 0.2]])
    pooled = calibration(layout, Job("lstm", 3, 0), units, [0.5])
    assert pooled == calibrate(np.concatenate([r0, in_fold0]), [0.5]).model_copy(
        update={"origins": 2})
    assert (pooled.n, pooled.origins) == (5, 2)
    deepest = calibration(layout, Job("lstm", 3, 1), units, [0.5])
    assert (deepest.n, deepest.origins) == (3, 1)  # fold 1 never sees a later origin
    assert deepest == calibrate(r1, [0.5]).model_copy(update={"origins": 1})
    assert calibration(layout, Job("gru", 3, 0), units, [0.5]) is None  # no residuals
    assert calibration(layout, Job("lstm", 3, 0), units, []) is None
    unknown = Units({"a": 2.0}, ["a"])  # a series fold 0 lacks: its windows left out
    np.testing.assert_allclose(converted(r1, sid1, units[1], unknown), [[-1.5, 0.5]])
