"""One 100,000-step sequence among short ones: memory follows the data, and the cut to
classify.max_length is reported (state.json, report.md, the CLI log)."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from flows.cli.main import main
from flows.cli.predict import predict_file
from flows.stages.evaluate.stage import run as evaluate
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.promote.stage import run as promote
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from schemas.artifacts import read_arrays
from schemas.files import read_json
from schemas.layout import Job, Layout
from tests.helpers import at, classify_frame, tiny_config

LONG = 100_000


@pytest.fixture
def long_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, LONG)
    x[0] += 2.0
    long = pl.DataFrame({"sequence_id": "q_long", "step": np.arange(LONG), "f1": x,
                         "f2": rng.normal(0, 1, LONG), "label": "up"})
    path = tmp_path / "long.csv"
    pl.concat([classify_frame(n_seq=60), long]).write_csv(path)
    return path


def _raw_float32_bytes(path: Path) -> int:
    return pl.read_csv(path).height * 2 * 4  # two features


@pytest.mark.slow  # a whole pipeline run
def test_huge_sequence_is_cut_stored_unpadded_and_reported(
        long_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    cfg = tiny_config(long_csv, out, models={"gru": {"hidden": 4}}, **{
        "train.max_epochs": 1, "promote.must_beat": []})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    validate(cfg, at(cfg))
    assert main(["stage", "preprocess", "--params", str(params)]) == 0
    log = capsys.readouterr().err
    assert "1 sequence(s) longer than classify.max_length were cut to their first 4096 " \
           "steps: q_long" in log
    layout = Layout(out)
    state = read_json(layout.state)
    assert state["truncated"] == {"count": 1, "max_length": 4096, "ids": ["q_long"],
                                  "lengths": [LONG]}
    assert layout.arrays.stat().st_size < 2 * _raw_float32_bytes(long_csv)
    arrays = read_arrays(layout)
    lengths = np.concatenate([arrays[f"len_{s}"] for s in ("train", "val", "test")])
    assert lengths.max() == 4096
    assert sum(len(arrays[f"x_{s}"]) for s in ("train", "val", "test")) == lengths.sum()
    train_model(cfg.models["gru"], cfg.train, at(cfg), Job("gru"))
    evaluate(cfg, at(cfg))
    promote(cfg, at(cfg))
    report = layout.report.read_text()
    assert "- 1 sequence(s) longer than classify.max_length were cut to their first 4096 " \
           "steps: q\\_long" in report  # ids are Markdown-escaped (flows.report.text.md_text)
    predictions = predict_file(long_csv, layout.promoted, tmp_path / "p.csv")
    assert predictions.height == 61
    assert "cut to their first 4096 steps (as in training): q_long" in capsys.readouterr().err


def test_without_a_cut_the_arrays_are_the_size_of_the_data(long_csv: Path,
                                                           tmp_path: Path) -> None:
    cfg = tiny_config(long_csv, tmp_path / "out", **{"classify.max_length": 200_000})
    validate(cfg, at(cfg))
    state = preprocess(cfg, at(cfg)).model_dump(mode="json")
    assert state["truncated"]["count"] == 0
    assert Layout(tmp_path / "out").arrays.stat().st_size < 1.2 * _raw_float32_bytes(long_csv)
