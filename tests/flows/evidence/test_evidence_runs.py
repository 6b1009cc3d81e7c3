"""Repeats, rolling-origin folds, per-item errors and cost, through the stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from schemas.artifacts import Metrics, read, read_arrays, read_state
from schemas.layout import Layout
from tests.helpers import TINY_MODELS, at, forecast_frame, run_stages, tiny_config

TWO = {k: TINY_MODELS[k] for k in ("lstm", "gru")}


def _csv(tmp_path: Path, frame: pl.DataFrame) -> Path:
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    return path


def test_each_fold_is_fitted_on_its_own_past_only(tmp_path: Path) -> None:
    frame = forecast_frame(n_series=1, length=120)
    late = pl.int_range(pl.len()) >= 100  # the last 20 rows jump by 1,000
    frame = frame.with_columns(pl.when(late).then(pl.col("y") + 1000).otherwise("y").alias("y"))
    cfg = tiny_config(_csv(tmp_path, frame), tmp_path / "out", **{"forecast.folds": 3})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    layout = Layout(tmp_path / "out")
    n_test = 18  # ceil(120 * 0.15)
    for fold in range(3):
        state, arrays = read_state(layout, fold), read_arrays(layout, fold)
        assert state.fold == fold and state.folds == 3
        end = 120 - fold * n_test
        last_test = int(arrays["pos_test"].max()) + state.horizon  # one past the last target
        first_test = int(arrays["pos_test"].min())
        assert (first_test, last_test) == (end - n_test, end)  # one test length, k back
        assert int(arrays["pos_val"].max()) + state.horizon == end - n_test  # val just before
        train_mean = next(r.mean for r in state.scaling if r.column == "y")
        assert train_mean < 100  # the jump lies after every fold's training rows
        rows = np.asarray(arrays["series"])
        assert len(rows) == 120 - fold * n_test  # later rows never reach an earlier fold
    assert not (layout.prepared / "fold-3").exists()


def test_folds_with_a_split_column_are_refused(tmp_path: Path) -> None:
    from schemas.errors import UsageError

    frame = forecast_frame(n_series=1, length=80)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 60).then(pl.lit("train")).otherwise(pl.lit("test"))
        .alias("split"))
    cfg = tiny_config(_csv(tmp_path, frame), tmp_path / "out", **{"forecast.folds": 2})
    validate(cfg, at(cfg))
    with pytest.raises(UsageError, match=r"forecast\.folds is 2, but column 'split'"):
        preprocess(cfg, at(cfg))


@pytest.mark.slow  # whole pipeline runs
def test_seeds_and_folds_give_intervals_and_per_item_errors(tmp_path: Path) -> None:
    cfg = tiny_config(_csv(tmp_path, forecast_frame()), tmp_path / "out", models=TWO,
                      **{"train.seeds": 2, "forecast.folds": 2, "promote.must_beat": []})
    decision = run_stages(cfg)
    layout = Layout(tmp_path / "out")
    rows = read(Metrics, layout.metrics).models
    for name in TWO:
        row = rows[name]
        assert (row.runs, row.seeds, row.folds) == (4, 2, 2)
        ci = row.interval["mase"]
        assert ci.n == 4 and ci.lo <= row.mase <= ci.hi and ci.sd > 0
        assert len(row.profile) == cfg.forecast.horizon
        assert row.latency_ms > 0 and row.latency_p95_ms >= row.latency_ms
        assert row.throughput_per_s > 0 and row.peak_rss_mib > 50
    assert rows["naive"].runs == 2 and rows["naive"].seeds == 1
    errors = pl.read_parquet(layout.errors)
    seeds = errors.filter(pl.col("model") == "lstm").group_by("fold").agg(pl.col("seed").n_unique())
    assert seeds["seed"].to_list() == [2, 2]
    assert set(decision["tests"]) >= {"naive", "seasonal_naive"}
    assert "paired permutation test" in decision["reason"] or decision["tied"] == [
        decision["winner"]]


@pytest.mark.slow  # whole pipeline runs
def test_the_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    csv = _csv(tmp_path, forecast_frame())
    measured = ("train_seconds", "ms_per_step", "peak_rss_mib", "rss_growth_mib", "latency_ms",
                "latency_p95_ms", "batch_latency_ms", "batch_latency_p95_ms",
                "throughput_per_s", "onnx_latency_ms", "onnx_latency_p95_ms",
                "onnx_throughput_per_s")
    out = []
    for run in ("a", "b"):
        cfg = tiny_config(csv, tmp_path / run, models=TWO)
        run_stages(cfg)
        models = read(Metrics, Layout(tmp_path / run).metrics).models
        out.append({k: v.model_dump(exclude=set(measured)) for k, v in models.items()})
    assert out[0] == out[1]
