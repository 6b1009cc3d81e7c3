"""train.runner: dask on a real local Dask cluster: the same metrics as the process pool, and a
worker lost mid-training costs a retry on another worker, not the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prefect_dask", reason="prefect-dask is not installed: "
                    "pip install -c constraints.txt -e '.[dev]'")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

from flows.pipeline import run_compare  # noqa: E402
from schemas.config import load_config  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines

MODELS = {"rnn": {"hidden": 8, "layers": 1}, "gru": {"hidden": 8, "layers": 1}}


def _config(data: Path, out: Path, **extra: object) -> Any:
    return tiny_config(data, out, models=MODELS, **{"promote.gto_artifact": None, **extra})


def _scores(out: Path) -> dict[str, dict[str, float]]:
    """Every model's test metrics, from the published run's metrics.json."""
    metrics = json.loads((out / "latest" / "metrics.json").read_text())
    keys = ("mae", "rmse", "smape", "mase")
    return {name: {k: row[k] for k in keys} for name, row in metrics["models"].items()
            if row["kind"] == "model"}


@pytest.fixture(scope="module")
def process_scores(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> dict:
    """The same tiny comparison on the default process pool, for reference."""
    root = tmp_path_factory.mktemp("process")
    from tests.helpers import forecast_frame

    data = root / "forecast.csv"
    forecast_frame().write_csv(data)
    run_compare(_config(data, root / "out"))
    return {"data": data, "scores": _scores(root / "out")}


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every task runner the fan-out builds, in order."""
    import flows.runtime.fanout

    built: list[Any] = []
    real = flows.runtime.fanout.task_runner

    def spy(cfg: Any, jobs: int, *rest: Any) -> Any:
        built.append(real(cfg, jobs, *rest))
        return built[-1]

    monkeypatch.setattr(flows.runtime.fanout, "task_runner", spy)
    return built


def test_dask_runner_gives_the_process_pools_metrics(process_scores: dict, tmp_path: Path,
                                                     runners: list[Any]) -> None:
    import os

    before = dict(os.environ)
    cfg = _config(process_scores["data"], tmp_path / "out", **{"train.runner": "dask"})
    run_compare(cfg)
    assert [type(r).__name__ for r in runners] == ["LocalDaskRunner"]
    assert _scores(tmp_path / "out") == process_scores["scores"]
    assert set(process_scores["scores"]) == set(MODELS)
    assert dict(os.environ) == before  # the nannies' OMP_NUM_THREADS=1 etc. are undone


def test_a_lost_dask_worker_is_retried_on_another(process_scores: dict, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 runners: list[Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL the first worker that starts training gru: the scheduler at train.address
    runs that training again on a live worker, and the run ends as an undisturbed one."""
    import logging

    monkeypatch.setattr(logging.getLogger("seqarena"), "propagate", True)  # the CLI turns it off
    caplog.set_level("INFO", logger="seqarena")
    marker = tmp_path / "killed"
    monkeypatch.setenv("SEQARENA_CRASH_AT", "train:gru")
    monkeypatch.setenv("SEQARENA_CRASH_MARKER", str(marker))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        cfg = _config(process_scores["data"], tmp_path / "out",
                      **{"train.runner": "dask", "train.address": cluster.scheduler_address})
        run_compare(cfg)
    assert marker.exists(), "no worker was killed: the test did not test anything"
    assert [r.address for r in runners] == [cfg.train.address]  # one runner: Dask's retry
    assert "gru/fold-0/seed-0" in caplog.text  # the fan-out's lines are captured, and
    assert "training it again alone" not in caplog.text  # none says the pool fallback ran
    assert _scores(tmp_path / "out") == process_scores["scores"]


def test_train_address_needs_the_dask_runner() -> None:
    with pytest.raises(Exception, match=r"train\.runner: dask"):
        load_config(None, {"train.address": "tcp://127.0.0.1:8786"})
