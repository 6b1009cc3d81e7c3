"""The stage functions end to end on tiny data, without Prefect."""

from pathlib import Path

import numpy as np
import pytest
import torch

from flows.stages.evaluate.stage import run as evaluate
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.promote.stage import run as promote
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from modules.inference import predict
from modules.model_files import load_model
from modules.training import split_tensors
from schemas.artifacts import read_arrays, read_prepared, read_state
from schemas.errors import RunFailedError
from schemas.files import read_json
from schemas.layout import Job, Layout
from tests.helpers import TINY_MODELS, at, run_stages, tiny_config


@pytest.mark.slow  # whole pipeline runs
@pytest.mark.parametrize("kind", ["forecast", "classify"])
def test_pipeline_promotes_a_reloadable_model(kind: str, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    data = request.getfixturevalue(f"{kind}_csv")
    models = {**TINY_MODELS, "cnn": {"channels": 6, "blocks": 2}, "linear": {}}
    cfg = tiny_config(data, tmp_path / "out", **{"train.max_epochs": 3, "models": models,
                                                 "promote.must_beat": []})
    decision = run_stages(cfg)
    layout = Layout(tmp_path / "out")
    metrics = read_json(layout.metrics)["models"]
    assert set(models) <= set(metrics)
    state = read_prepared(layout.promoted / "preprocessing.json")
    for name in models:  # every architecture's files pass the checks predict makes
        assert load_model(layout.job_dir(Job(name, 0, 0)), state)[1].name == name
    assert ({"naive", "seasonal_naive"} if kind == "forecast" else {"majority"}) <= set(metrics)
    winner = decision["winner"]
    assert winner in cfg.models
    report = layout.report.read_text()
    assert f"Promoted: {winner}" in report
    assert ("| naive |" if kind == "forecast" else "| majority |") in report
    # the promoted artifact alone reproduces the winner's test metric
    module, meta = load_model(layout.promoted, state)
    assert meta.name == winner
    arrays = read_arrays(layout)
    out = predict(module, split_tensors(arrays, kind, "test")[:-1])
    from flows.stages.evaluate.stage import score

    run = score(state, arrays, out, winner, "model", 0, 0)
    assert run.metrics[decision["metric"]] == pytest.approx(
        metrics[winner][decision["metric"]], rel=1e-6)


def test_same_seed_same_metrics(forecast_csv: Path, tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        cfg = tiny_config(forecast_csv, tmp_path / f"run{i}",
                          models={"gru": {"hidden": 8, "layers": 1}})
        validate(cfg, at(cfg))
        preprocess(cfg, at(cfg))
        train_model(cfg.models["gru"], cfg.train, at(cfg), Job("gru"))
        job = Layout(Path(cfg.out_dir)).job_dir(Job("gru"))
        runs.append(read_json(job / "model.json"))
        runs[-1]["weights"] = (job / "weights.safetensors").read_bytes()
    assert runs[0]["history"] == runs[1]["history"]
    assert runs[0]["weights"] == runs[1]["weights"]


def test_every_model_failing_is_exit_3(forecast_csv: Path, tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"gru": {"hidden": 4}})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    rows = evaluate(cfg, at(cfg), failures={j.key: "RuntimeError: boom" for j in cfg.jobs()}).rows()
    assert [r.status for r in rows if r.kind == "model"] == ["failed"]
    with pytest.raises(RunFailedError) as err:
        promote(cfg, at(cfg))
    assert err.value.exit_code == 3
    assert "gru` failed: RuntimeError: boom" in Layout(tmp_path / "out").report.read_text()


def test_weights_are_safetensors_not_pickle(forecast_csv: Path, tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"rnn": {"hidden": 4}})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    train_model(cfg.models["rnn"], cfg.train, at(cfg), Job("rnn"))
    blob = (tmp_path / "out/models/rnn/fold-0/seed-0/weights.safetensors").read_bytes()
    assert not blob.startswith(b"PK") and not blob.startswith(b"\x80")  # not zip / pickle
    module, _ = load_model(tmp_path / "out/models/rnn/fold-0/seed-0", read_state(at(cfg)))
    assert all(torch.isfinite(p).all() for p in module.parameters())
    card = read_json(tmp_path / "out/models/rnn/fold-0/seed-0/model.json")
    assert np.isfinite(card["best_val_loss"])


def test_short_series_are_named_in_the_report(tmp_path: Path) -> None:
    import polars as pl

    from tests.helpers import forecast_frame

    df = forecast_frame(n_series=3)
    df = df.filter((pl.col("unique_id") != "s2") | (pl.int_range(pl.len()).over("unique_id") < 9))
    path = tmp_path / "f.csv"
    df.write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", models={"rnn": {"hidden": 4}},
                      **{"promote.must_beat": []})
    run_stages(cfg)
    report = Layout(tmp_path / "out").report.read_text()
    assert "validation short_series on `ds`: quarantined 9 rows of 1 series" in report
    quarantined = pl.read_csv(Layout(tmp_path / "out").quarantine_csv)
    assert set(quarantined["unique_id"]) == {"s2"} and quarantined.height == 9


@pytest.mark.slow  # whole pipeline runs
def test_promoted_folder_is_replaced_whole(forecast_csv: Path, tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"rnn": {"hidden": 4}},
                      **{"promote.must_beat": []})
    run_stages(cfg)
    stale = Layout(tmp_path / "out").promoted / "stale.txt"
    stale.write_text("from an earlier run")
    promote(cfg, at(cfg))
    assert not stale.exists() and (stale.parent / "weights.safetensors").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".promoted")]


def test_json_reports_stay_valid_json(tmp_path: Path) -> None:
    import json

    from schemas.files import write_json

    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "m.json").read_text(), parse_constant=None) == {
        "a": None, "b": [None, 1.5]}
