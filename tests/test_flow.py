"""The Prefect flow end to end (process-pool training) under a temporary Prefect server."""

import os
from pathlib import Path

import polars as pl
import pytest
from prefect import task

from flows.cli.main import main
from flows.pipeline import compare_flow, run_compare
from schemas.errors import DataValidationError
from schemas.files import read_json
from schemas.layout import Layout
from tests.helpers import forecast_frame, tiny_config

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines


def test_flow_trains_every_model_and_promotes(prefect_server: None, forecast_csv: Path,
                                              tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", **{"promote.must_beat": []})
    decision = run_compare(cfg)
    layout = Layout(tmp_path / "out")
    models = read_json(layout.metrics)["models"]
    assert all(models[m]["status"] == "ok" for m in cfg.models)
    assert decision["winner"] in cfg.models
    assert (layout.promoted / "weights.safetensors").exists() and layout.report.exists()


def _artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:  # the newest version of the artifact
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC, limit=1)
    return str(found[0].data) if found else ""


def _bad_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    nan_at_5 = pl.when(pl.int_range(pl.len()) == 5).then(float("nan")).otherwise(pl.col("promo"))
    forecast_frame().with_columns(nan_at_5.alias("promo")).write_csv(path)
    return path


def test_compare_rejects_bad_data_before_starting_a_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_server(*_: object, **__: object) -> None:
        raise AssertionError("the Prefect API was started before validation")

    monkeypatch.setattr("flows.pipeline.prefect_api", no_server)
    with pytest.raises(DataValidationError, match="column 'promo': 1 row"):
        run_compare(tiny_config(_bad_csv(tmp_path), tmp_path / "out"))
    assert not (tmp_path / "out" / "prepared").exists()


def test_flow_stops_on_invalid_data(prefect_server: None, tmp_path: Path) -> None:
    path = _bad_csv(tmp_path)
    with pytest.raises(DataValidationError, match="column 'promo': 1 row"):
        compare_flow(tiny_config(path, tmp_path / "out"))  # a scheduled or UI run
    assert not (tmp_path / "out" / "prepared").exists()
    assert "| missing | promo | error | rejected 1 rows |" in _artifact("seqarena-validation")


def test_flow_follows_the_quarantine_policy(prefect_server: None, tmp_path: Path) -> None:
    path = tmp_path / "gappy.csv"
    gap = (pl.col("unique_id") == "s1") & (pl.int_range(pl.len()).over("unique_id") == 40)
    forecast_frame(n_series=3).filter(~gap).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", models={"rnn": {"hidden": 4}},
                      **{"validation.policy.gaps": "quarantine", "train.max_epochs": 1,
                         "promote.must_beat": []})
    run_compare(cfg)
    layout = Layout(tmp_path / "out")
    report = read_json(layout.validation)
    assert (report["rows_in"], report["rows_used"], report["rows_quarantined"]) == (239, 160, 79)
    assert "validation gaps on `ds`: quarantined 79 rows of 1 series" in layout.report.read_text()


def test_cli_compare_prints_the_leaderboard(prefect_server: None, classify_csv: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    argv = ["compare", str(classify_csv), "--out", str(tmp_path / "run"), "--epochs", "2",
            "--models", "gru,transformer", "--set", "train.batch_size=16",
            "--set", "models={gru: {hidden: 8}, transformer: {d_model: 8, heads: 2, ff: 16}}"]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = [line for line in out.out.splitlines() if line.startswith("│")]  # rich's table
    for name in ("gru", "transformer", "majority"):
        assert any(f" {name} " in row for row in rows), out.out
    winner = read_json(tmp_path / "run" / "decision.json")["winner"]
    assert sum("✓" in row for row in rows) == (winner is not None)  # the winner, if any
    assert "\\_" not in out.out  # names as typed, not Markdown-escaped
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


@task
def _pid(_: int) -> int:
    return os.getpid()


def test_every_task_of_the_pool_gets_a_fresh_process(prefect_server: None) -> None:
    from flows.runtime.server import OwnedProcessPool

    with OwnedProcessPool(max_workers=2) as pool:
        futures = [pool.submit(_pid, {"_": i}) for i in range(4)]
        pids = [f.result() for f in futures]
    assert len(set(pids)) == 4 and os.getpid() not in pids
