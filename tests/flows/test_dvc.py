"""`dvc repro` runs the same stage functions; a second repro re-runs nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, TINY_MODELS, forecast_frame

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines



def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_dvc_repro_twice_and_metrics(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for folder in ("flows", "modules", "schemas"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {m: TINY_MODELS[m] for m in ("lstm", "transformer")}  # two suffice
    params["train"].update(max_epochs=2, patience=2, batch_size=16)
    params["forecast"].update(lookback=8, horizon=3, folds=1)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "data").mkdir()
    forecast_frame().write_csv(repo / "data" / "forecast.csv")
    dvc = [sys.executable, "-m", "dvc"]
    _run(repo, "git", "init", "-q")
    _run(repo, *dvc, "init", "-q")
    first = _run(repo, *dvc, "repro")
    for stage in ("validate", "preprocess", "train@lstm", "train@transformer", "evaluate",
                  "promote"):
        assert f"Running stage '{stage}'" in first
    second = _run(repo, *dvc, "repro")
    assert "Running stage" not in second
    metrics = json.loads(_run(repo, *dvc, "metrics", "show", "--json"))
    shown = next(iter(metrics.values()))["data"]["results/metrics.json"]["data"]["models"]
    assert {"lstm", "transformer", "naive", "seasonal_naive"} <= set(shown)
    assert (repo / "results" / "report.md").exists()
    assert (repo / "results" / "report.html").exists()
    plots = _run(repo, *dvc, "plots", "show", "--json")
    for table in ("learning_curves.csv", "profile.csv", "confusion.csv"):
        assert f"results/plots/{table}" in plots
    assert '"errors"' not in plots, plots[:2000]
    _plots_diff_between_experiments(repo, dvc)


def _plots_diff_between_experiments(repo: Path, dvc: list[str]) -> None:
    """A second experiment (a wider LSTM: only its training, evaluate and promote run again),
    then `dvc plots diff` draws both side by side."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    _run(repo, *git, "add", "-A")
    _run(repo, *git, "commit", "-qm", "first experiment")
    rerun = _run(repo, *dvc, "exp", "run", "-S", "models.lstm.hidden=12", "-n", "wider")
    ran = {s for s in ("validate", "preprocess", "train@lstm", "train@transformer", "evaluate",
                       "promote") if f"Running stage '{s}'" in rerun}
    assert ran == {"train@lstm", "evaluate", "promote"}, rerun
    diff = json.loads(_run(repo, *dvc, "plots", "diff", "HEAD", "wider", "--json"))
    assert "errors" not in diff, diff.get("errors")
    for table in ("learning_curves.csv", "profile.csv"):
        shown = diff["data"][f"results/plots/{table}"]
        assert [plot["revisions"] for plot in shown] == [["HEAD", "wider"]], table
        rows = shown[0]["content"]["data"]["values"]
        assert {row["rev"] for row in rows} == {"HEAD", "wider"}, table
    _run(repo, *dvc, "plots", "diff", "HEAD", "wider", "-o", "diff")
    page = (repo / "diff" / "index.html").read_text()
    assert "learning curves" in page and "wider" in page
