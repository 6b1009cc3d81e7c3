"""Champion/challenger, the promotion history, rollback and GTO tags."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from flows.cli.main import main
from flows.stages.evaluate.champion import _classify, _forecast
from flows.stages.promote.rule import against_champion, decide
from schemas.artifacts import Decision
from schemas.config import PromoteConfig
from schemas.history import read_history
from tests.helpers import KINDS, TINY_MODELS, SeededErrors, at, synthetic_frame, synthetic_rows

OPTS = ["--set", "promote.must_beat=[]", "--set", "train.max_epochs=2",
        "--set", "train.patience=2", "--set", "train.seeds=1", "--set", "train.workers=2",
        "--set", "evaluate.references=false", "--set", "forecast.lookback=8",
        "--set", "forecast.horizon=3", "--folds", "1"]


_errors = SeededErrors().shifted


def _compare(data: Path, out: Path, *extra: str) -> dict:
    models = ["--models", "lstm,gru"]
    tiny = [f"--set=models.{m}.{k}={v}" for m in ("lstm", "gru")
            for k, v in TINY_MODELS[m].items()]
    assert main(["compare", str(data), "--out", str(out), *models, *tiny, *OPTS, *extra]) == 0
    return json.loads((out / "decision.json").read_text())


def _decided(champion_shift: float, status: str = "ok", **policy: object) -> Decision:
    errors = _errors(naive=0.2, lstm=0.0, champion=champion_shift)
    frame = synthetic_frame("forecast", errors, KINDS)
    rows = synthetic_rows("forecast", frame, {"lstm": 10})
    rows = [r if r.kind != "champion" else r.model_copy(update={
        "status": status,
        "note": "the champion v0001 (gru): cannot score this data: other columns"}) for r in rows]
    d = decide(rows, "forecast", PromoteConfig(**policy), frame)
    return against_champion(d, rows, errors, PromoteConfig(**policy), "v0001")


def test_a_challenger_replaces_the_champion_only_if_the_test_says_so() -> None:
    better = _decided(0.05)  # the champion errs more on every item
    assert better.outcome == "promoted" and better.winner == "lstm"
    assert better.champion_test["p_value"] < 0.001 and "replaces it" in better.reason
    same = _decided(0.0005)  # within noise
    assert same.outcome == "kept" and same.winner is None
    assert same.challenger == "lstm" and "the champion v0001 stays" in same.reason
    assert _decided(0.05, challenge=False).outcome == "promoted"


def test_a_champion_that_cannot_score_is_replaced_or_kept_by_the_policy() -> None:
    replaced = _decided(0.0, status="skipped")
    assert replaced.outcome == "promoted" and "cannot score this data" in replaced.reason
    kept = _decided(0.0, status="skipped", unscorable="keep")
    assert kept.outcome == "kept" and kept.winner is None


class _LastValue(nn.Module):
    """Forecasts the last input target value (in whatever scaling it is given)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1:, 0].repeat(1, 3)  # (B, 3)


def _forecast_states(tmp_path: Path, forecast_csv: Path) -> tuple:
    from flows.stages.preprocess.stage import run as preprocess
    from flows.stages.validate.stage import run as validate
    from schemas.artifacts import read_arrays, read_state
    from schemas.layout import Layout
    from tests.helpers import forecast_frame, tiny_config

    states = []
    for i, frame in enumerate([forecast_frame(), forecast_frame(length=120, seed=3)]):
        data = tmp_path / f"d{i}.csv"
        frame.write_csv(data)
        cfg = tiny_config(data, tmp_path / f"o{i}")
        validate(cfg, at(cfg))
        preprocess(cfg, at(cfg))
        layout = Layout(tmp_path / f"o{i}")
        states.append((read_state(layout), read_arrays(layout)))
    return states


def test_the_champion_reads_this_data_through_its_own_scaling(tmp_path: Path,
                                                              forecast_csv: Path) -> None:
    (champ, _), (state, arrays) = _forecast_states(tmp_path, forecast_csv)
    assert champ.scaling != state.scaling  # fitted on other rows
    out = _forecast(champ, state, arrays, _LastValue())
    from modules.arrays import Scaler
    sid = arrays["sid_test"]
    raw_last = Scaler(state).inverse(arrays["series"][arrays["start_test"] + state.lookback - 1,
                                                      :1], sid)  # (N, 1) in the user's units
    np.testing.assert_allclose(Scaler(state).inverse(out, sid), np.repeat(raw_last, 3, 1),
                               rtol=1e-5)
    other = champ.model_copy(update={"columns": ["y", "price"]})
    assert "this data has" in _forecast(other, state, arrays, _LastValue())


class _Marker(nn.Module):
    """Logits [f1 of the first step, -f1]: the champion's classes in its own order."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0, 0], -x[:, 0, 0]], 1)  # (B, 2)


def test_the_champion_s_classes_are_matched_by_name(tmp_path: Path, classify_csv: Path) -> None:
    from flows.stages.preprocess.stage import run as preprocess
    from flows.stages.validate.stage import run as validate
    from schemas.artifacts import read_arrays, read_state
    from schemas.layout import Layout
    from tests.helpers import tiny_config

    cfg = tiny_config(classify_csv, tmp_path / "o")
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    state, arrays = read_state(Layout(tmp_path / "o")), read_arrays(Layout(tmp_path / "o"))
    up_first = state.model_copy(update={"classes": ["up", "down"]})  # f1 > 0 means up
    logits = _classify(up_first, state, arrays, _Marker())
    picked = [state.classes[i] for i in logits.argmax(1)]
    truth = [state.classes[i] for i in arrays["y_test"]]
    assert picked == truth  # the marker decides every test sequence, whatever the order
    fewer = state.model_copy(update={"classes": ["up", "sideways"]})
    assert "it knows the classes" in _classify(fewer, state, arrays, _Marker())


def _git_repo(repo: Path) -> list[str]:
    """A git repository with one commit (GTO tags need one); the git command to use in it."""
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    return git


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_kept_then_replaced_then_rolled_back_with_gto_tags(
        prefect_server: None, tmp_path: Path, forecast_csv: Path,
        capsys: pytest.CaptureFixture) -> None:
    """One output folder's life in a git repository: promoted, kept on unchanged data,
    replaced (challenge off), rolled back; GTO tags follow the champion, and another output
    folder never takes over the artifact's tags."""
    pytest.importorskip("gto", reason="the gto package is not installed")
    repo = tmp_path / "repo"
    git = _git_repo(repo)
    out = repo / "runs" / "demo"
    first = _compare(forecast_csv, out)
    assert first["outcome"] == "promoted"
    second = _compare(forecast_csv, out)  # same data, same seed: the same model again
    assert second["outcome"] == "kept" and second["champion"] == "v0001"
    assert second["champion_test"]["p_value"] == 1.0
    board = json.loads((out / "metrics.json").read_text())["models"]
    assert board["champion"]["mase"] == pytest.approx(board[first["winner"]]["mase"], rel=1e-5)
    third = _compare(forecast_csv, out, "--set", "promote.challenge=false")
    assert third["outcome"] == "promoted" and (out / "versions" / "v0002").is_dir()
    assert main(["promote", "--rollback", "--out", str(out)]) == 0
    assert Path(out / "promoted").resolve().name == "v0001"
    lines, broken = read_history(out)
    assert [(e["event"], e["outcome"], e["champion"]) for e in lines] == [
        ("compare", "promoted", "v0001"), ("compare", "kept", "v0001"),
        ("compare", "promoted", "v0002"), ("rollback", "promoted", "v0001")]
    assert broken == 0 and lines[0]["data"]["md5"] and len(lines[0]["params_sha256"]) == 64
    capsys.readouterr()
    assert main(["history", "--out", str(out)]) == 0
    assert "rollback" in capsys.readouterr().out
    assert main(["predict", str(forecast_csv), "--from", str(out),
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert "(v0001)" in capsys.readouterr().out
    assert main(["promote", "--rollback", "v0009", "--out", str(out)]) == 2

    tags = subprocess.run([*git, "tag"], capture_output=True, text=True, check=True).stdout
    # v0002 came from the same commit: GTO keeps one version per commit, so it is not tagged
    assert set(tags.split()) == {"seqarena-model@v0.0.1", "seqarena-model#prod#1",
                                 "seqarena-model#prod#2"}
    assert "tagged seqarena-model@v0.0.1" in lines[0]["gto"]
    assert lines[1].get("gto") is None  # kept: the champion did not change
    assert "one version per commit" in lines[2]["gto"]
    assert "tagged seqarena-model@v0.0.1" in lines[3]["gto"]  # the rollback: prod again
    import gto.api
    stages = gto.api.show(str(repo), "seqarena-model")[0]["stages"]
    assert [s["stage"] for s in stages] == ["prod"]
    # another output folder's champion never takes over the artifact's versions or prod
    other = repo / "runs" / "other"
    _compare(forecast_csv, other)
    line = read_history(other)[0][0]["gto"]
    assert "seqarena-model tags the champions of runs/demo, not of runs/other" in line
    after = subprocess.run([*git, "tag"], capture_output=True, text=True, check=True).stdout
    assert after == tags


@pytest.mark.slow  # two pipeline runs
def test_a_champion_with_absurd_scaling_is_skipped_not_blocking(tmp_path: Path,
                                                                forecast_csv: Path) -> None:
    """A champion whose target std is 1e308 (finite, absurd: its errors overflow) is refused
    by its card's bounds and skipped; the run's metrics.json reads back and a model wins."""
    from schemas.artifacts import Metrics, read
    from schemas.layout import Layout
    from tests.helpers import run_stages, tiny_config

    first = tiny_config(forecast_csv, tmp_path / "a", models={"lstm": TINY_MODELS["lstm"]})
    run_stages(first)
    champion = tmp_path / "b" / "champion"
    shutil.copytree(tmp_path / "a" / "promoted", champion)
    card = json.loads((champion / "preprocessing.json").read_text())
    for row in card["scaling"]:
        row["std"] = 1e308
    (champion / "preprocessing.json").write_text(json.dumps(card))
    decision = run_stages(tiny_config(forecast_csv, tmp_path / "b",
                                      models={"lstm": TINY_MODELS["lstm"]}))
    rows = read(Metrics, Layout(tmp_path / "b").metrics).models
    assert rows["champion"].status == "skipped", rows["champion"]
    assert "scaling[0].std" in (rows["champion"].note or "")
    assert decision["winner"] == "lstm"


def test_a_run_whose_errors_are_not_finite_is_not_scored() -> None:
    from flows.evidence.aggregate import Scored
    from flows.stages.evaluate.stage import finite

    def run(errors: list[float], rmse: float) -> Scored:
        return Scored("m", "model", 0, 0, {"rmse": rmse, "mase": 1.0}, np.array(errors),
                      np.ones(len(errors), bool))

    assert finite(run([0.1, 0.2], 0.3))
    assert not finite(run([0.1, np.inf], 0.3)) and not finite(run([0.1, 0.2], np.inf))
    assert not finite(run([np.nan, 0.2], 0.3))
