"""A split column with only train and test (a benchmark's given test set): val is carved
from train, stratified by label (classify) or from each series' last train rows (forecast)."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.cli.main import main
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from schemas.artifacts import read_arrays
from schemas.files import read_json
from schemas.layout import Layout
from tests.helpers import at, forecast_frame, run_stages, tiny_config


def _train_test_file(path: Path, rare: bool = False) -> Path:
    """60 sequences x 20 steps = 1,200 rows, three classes, a split column of train and test;
    `rare` adds a class with one train and one test sequence (too few to carve a val)."""
    rng, frames = np.random.default_rng(0), []
    specs = [(f"q{i:03d}", ["up", "down", "flat"][i % 3], "test" if i % 4 == 0 else "train")
             for i in range(60)]
    if rare:
        specs += [("r0", "odd", "train"), ("r1", "odd", "test")]
    for seq, label, split in specs:
        x = rng.normal(0, 0.3, 20)
        x[0] += {"up": 2.0, "down": -2.0}.get(label, 0.0)
        frames.append(pl.DataFrame({"sequence_id": seq, "step": np.arange(20), "f1": x,
                                    "label": label, "split": split}))
    pl.concat(frames).write_csv(path)
    return path


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(list(args))
    text = capsys.readouterr()
    return code, text.out + text.err


def test_val_is_carved_from_train_when_the_split_column_has_none(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _train_test_file(tmp_path / "bench.csv")
    code, text = _cli(capsys, "validate", str(path), "--out", str(tmp_path / "check"))
    assert code == 0 and "1200 of 1200 rows used, 0 quarantined" in text
    cfg = tiny_config(path, tmp_path / "out", models={"gru": {"hidden": 4}},
                      **{"train.max_epochs": 1, "promote.must_beat": []})
    run_stages(cfg)
    state = read_json(Layout(tmp_path / "out").state)
    assert state["val_carved"] == {"count": 6, "unit": "sequences", "how": "stratified by label"}
    assert state["counts"] == {"train": 39, "val": 6, "test": 15}
    a = read_arrays(Layout(tmp_path / "out"))
    assert np.bincount(a["y_val"]).tolist() == [2, 2, 2]  # stratified: 15% of 15 train per class
    file = pl.read_csv(path).group_by("sequence_id").agg(pl.first("split"))
    train_ids = set(file.filter(pl.col("split") == "train")["sequence_id"])
    assert set(a["ids_val"]) <= train_ids and not set(a["ids_test"]) & train_ids
    report = Layout(tmp_path / "out").report.read_text()
    assert "- val carved from train: 6 sequences, stratified by label" in report


def test_a_class_too_small_to_carve_from_is_quarantined(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    path = _train_test_file(tmp_path / "bench.csv", rare=True)
    out = tmp_path / "out"
    code, text = _cli(capsys, "validate", str(path), "--out", str(out))
    assert code == 0 and "1200 of 1240 rows used, 40 quarantined" in text
    report = read_json(out / "validation.json")
    rare = next(c for c in report["checks"] if c["check"] == "rare_class")
    assert (rare["action"], rare["groups"]) == ("quarantined", 2)
    assert set(pl.read_csv(out / "quarantine.csv")["sequence_id"]) == {"r0", "r1"}
    stages = tiny_config(path, tmp_path / "stages")  # stage functions: their own folder
    validate(stages, at(stages))
    state = preprocess(stages, at(stages)).model_dump(mode="json")
    assert state["classes"] == ["down", "flat", "up"] and state["val_carved"]["count"] == 6


def test_forecast_val_is_carved_from_each_series_train_rows(tmp_path: Path) -> None:
    df = forecast_frame().with_columns(
        pl.when(pl.int_range(pl.len()).over("unique_id") < 60).then(pl.lit("train"))
        .otherwise(pl.lit("test")).alias("split"))
    path = tmp_path / "f.csv"
    df.write_csv(path)
    cfg = tiny_config(path, tmp_path / "out")
    validate(cfg, at(cfg))
    state = preprocess(cfg, at(cfg)).model_dump(mode="json")
    assert state["val_carved"]["count"] == 2 * 9  # ceil(60 x 0.15) train rows per series
    L, H = cfg.forecast.lookback, cfg.forecast.horizon
    assert state["counts"] == {"train": 2 * (51 - L - H + 1), "val": 2 * (9 - H + 1),
                               "test": 2 * (20 - H + 1)}
