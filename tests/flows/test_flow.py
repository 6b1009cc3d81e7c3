"""The Prefect flow end to end (process-pool training) under a temporary Prefect server."""

import json
import multiprocessing
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
from tests.helpers import ROOT, TINY_MODELS, forecast_frame, tiny_config

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines


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

    monkeypatch.setattr("flows.runtime.server.prefect_api", no_server)
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


def test_cli_compare_trains_every_model_in_the_pool_and_prints_the_leaderboard(
        prefect_server: None, classify_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every architecture of the registry through the flow's process pool, from the CLI; each
    model's latency is measured once every training process has exited."""
    import flows.stages.evaluate.stage

    real, alive = flows.stages.evaluate.stage.latency, []
    before = set(multiprocessing.active_children())  # idle joblib workers of earlier tests

    def spy(*args: object, **kwargs: object) -> object:
        alive.append(len(set(multiprocessing.active_children()) - before))
        return real(*args, **kwargs)

    monkeypatch.setattr(flows.stages.evaluate.stage, "latency", spy)
    out = tmp_path / "run"
    argv = ["compare", str(classify_csv), "--out", str(out), "--epochs", "2",
            "--set", "train.batch_size=16", "--set", "train.workers=2",
            "--set", "promote.must_beat=[]",  # 90 test items cannot show a 2-epoch model better
            "--set", f"models={json.dumps(TINY_MODELS)}"]
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    models = read_json(out / "metrics.json")["models"]
    assert all(models[m]["status"] == "ok" for m in TINY_MODELS), models
    rows = [line for line in printed.out.splitlines() if line.startswith("│")]  # rich's table
    for name in (*TINY_MODELS, "majority"):
        assert any(f" {name} " in row for row in rows), printed.out
    winner = read_json(out / "decision.json")["winner"]
    assert winner in TINY_MODELS
    assert sum("✓" in row for row in rows) == 1  # the winner
    assert (out / "promoted" / "weights.safetensors").exists() and (out / "report.md").exists()
    assert "\\_" not in printed.out  # names as typed, not Markdown-escaped
    assert "Promoted:" in printed.out and "Report:" in printed.out
    assert "✓ validate" in printed.err and "Traceback" not in printed.err
    assert alive == [0] * 2 * len(TINY_MODELS)  # batch 1 and a large batch, the pool gone


def test_scheduled_deployment_carries_the_typed_config(tmp_path: Path) -> None:
    from flows.pipeline import build_deployment
    from schemas.config import Config, load_config

    cfg = load_config(ROOT / "params.yaml")
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
