"""Stage `preprocess`: time splits, train-only scaling, windows and unpadded sequences."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from schemas.artifacts import read_arrays
from schemas.errors import DataValidationError
from schemas.layout import Layout
from tests.helpers import at, classify_frame, forecast_frame, tiny_config


def _run(cfg):
    validate(cfg, at(cfg))
    state = preprocess(cfg, at(cfg)).model_dump(mode="json")
    return state, read_arrays(Layout(Path(cfg.out_dir)))


def test_forecast_windows_and_train_only_scaling(forecast_csv: Path, tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out")
    state, a = _run(cfg)
    L, H = cfg.forecast.lookback, cfg.forecast.horizon
    assert a["x_train"].shape[1:] == (L, 2) and a["y_train"].shape[1] == H
    assert a["x_train"].dtype == np.float32
    # per series: 80 rows, test = last 12, val = the 12 before: windows whose targets fit
    assert state["counts"] == {"train": 2 * (56 - L - H + 1), "val": 2 * (12 - H + 1),
                               "test": 2 * (12 - H + 1)}
    raw = forecast_frame()
    s0 = raw.filter(pl.col("unique_id") == "s0")["y"].to_numpy()
    stats = {(r["series"], r["column"]): r for r in state["scaling"]}
    assert stats[("s0", "y")]["mean"] == pytest.approx(s0[:56].mean())
    assert stats[("s0", "y")]["std"] == pytest.approx(s0[:56].std(ddof=1))
    # first test window of s0: inputs end right before the test rows, targets are test rows
    i = int(np.flatnonzero(a["sid_test"] == 0)[0])
    mean, std = stats[("s0", "y")]["mean"], stats[("s0", "y")]["std"]
    np.testing.assert_allclose(a["y_test"][i] * std + mean, s0[68:68 + H], rtol=1e-5)
    np.testing.assert_allclose(a["x_test"][i, :, 0] * std + mean, s0[68 - L:68], rtol=1e-5)


def test_forecast_split_column_is_honoured(tmp_path: Path) -> None:
    df = forecast_frame().with_columns(
        pl.when(pl.int_range(pl.len()).over("unique_id") < 40).then(pl.lit("train"))
        .when(pl.int_range(pl.len()).over("unique_id") < 60).then(pl.lit("val"))
        .otherwise(pl.lit("test")).alias("split"))
    path = tmp_path / "f.csv"
    df.write_csv(path)
    state, _ = _run(tiny_config(path, tmp_path / "out"))
    assert state["counts"] == {"train": 2 * (40 - 8 - 3 + 1), "val": 2 * (20 - 3 + 1),
                               "test": 2 * (20 - 3 + 1)}


def test_series_too_short_for_any_window_is_a_clear_error(forecast_csv: Path,
                                                          tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", **{"forecast.lookback": 70})
    with pytest.raises(DataValidationError, match="lookback"):
        _run(cfg)


def test_classify_stratified_unpadded_and_scaled(classify_csv: Path, tmp_path: Path) -> None:
    state, a = _run(tiny_config(classify_csv, tmp_path / "out"))
    assert state["classes"] == ["down", "up"]
    assert state["counts"] == {"train": 32, "val": 8, "test": 8}  # 24 per class, 4 + 4 held out
    for split in ("train", "val", "test"):
        assert np.bincount(a[f"y_{split}"]).tolist() in ([16, 16], [4, 4])  # stratified
    raw = classify_frame()
    seq = a["ids_test"][0]
    rows = raw.filter(pl.col("sequence_id") == seq)
    n = int(a["len_test"][0])
    assert n == rows.height
    assert a["x_test"].shape == (a["len_test"].sum(), 2)  # rows of every sequence, no padding
    train_ids = set(a["ids_train"].tolist())
    f1_train = raw.filter(pl.col("sequence_id").is_in(train_ids))["f1"]
    stats = {r["column"]: r for r in state["scaling"]}
    assert stats["f1"]["mean"] == pytest.approx(f1_train.mean())
    np.testing.assert_allclose(a["x_test"][:n, 0] * stats["f1"]["std"] + stats["f1"]["mean"],
                               rows["f1"].to_numpy(), rtol=1e-4, atol=1e-5)


def test_classify_split_column_must_be_constant_per_sequence(tmp_path: Path) -> None:
    df = classify_frame().with_columns(
        pl.when(pl.col("step") == 0).then(pl.lit("test")).otherwise(pl.lit("train"))
        .alias("split"))
    path = tmp_path / "c.csv"
    df.write_csv(path)
    with pytest.raises(DataValidationError, match="more than one split"):
        _run(tiny_config(path, tmp_path / "out"))
