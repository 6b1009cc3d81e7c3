"""The Prefect flow end to end (process-pool training) under a temporary Prefect server."""

import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.cli import main
from flows.errors import DataValidationError
from flows.io import read_json
from flows.layout import Layout
from flows.pipeline import run_compare
from tests.conftest import forecast_frame, tiny_config


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    saved = os.environ.get("PREFECT_API_URL")
    with prefect_test_harness():
        yield
    if saved is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = saved


def test_flow_trains_every_model_and_promotes(prefect_server: None, forecast_csv: Path,
                                              tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", **{"promote.must_beat_baseline": False})
    decision = run_compare(cfg)
    layout = Layout(tmp_path / "out")
    models = read_json(layout.metrics)["models"]
    assert all(models[m]["status"] == "ok" for m in cfg.models)
    assert decision["winner"] in cfg.models
    assert (layout.promoted / "weights.safetensors").exists() and layout.report.exists()


def test_flow_stops_on_invalid_data(prefect_server: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    forecast_frame().with_columns(pl.lit(float("nan")).alias("promo")).write_csv(path)
    with pytest.raises(DataValidationError, match="column 'promo'"):
        run_compare(tiny_config(path, tmp_path / "out"))
    assert not (tmp_path / "out" / "prepared").exists()


def test_cli_compare_prints_the_leaderboard(prefect_server: None, classify_csv: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    argv = ["compare", str(classify_csv), "--out", str(tmp_path / "run"), "--epochs", "2",
            "--models", "gru,transformer", "--set", "train.batch_size=16",
            "--set", "models={gru: {hidden: 8}, transformer: {d_model: 8, heads: 2, ff: 16}}"]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    for name in ("gru", "transformer", "majority"):
        assert f"| {name} |" in out.out or f"**{name}** ✓" in out.out
    assert "Promoted:" in out.out and "Report:" in out.out
    assert "✓ validate" in out.err and "Traceback" not in out.err


def test_scheduled_deployment_carries_the_typed_config(tmp_path: Path) -> None:
    from flows.pipeline import build_deployment
    from schemas.config import Config, load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "params.yaml")
    deployment = build_deployment(cfg, "nightly", "0 3 * * *")
    assert deployment.name == "nightly" and deployment.flow_name == "seqarena-compare"
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.concurrency_limit == 1
    assert Config.model_validate(deployment.parameters["config"]) == cfg
