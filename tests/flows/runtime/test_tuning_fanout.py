"""train.tune through the command line: trials are tasks of the process pool, every model
gets exactly N, the chosen settings are what trains, and the report says what each used."""

import json
from pathlib import Path

import pytest

from flows.cli.main import main
from schemas.artifacts import ModelCard, read
from schemas.layout import Job, Layout
from schemas.tuning import Tuning

pytestmark = pytest.mark.slow  # a whole compare on a real Prefect server

MODELS = {"rnn": {"hidden": 8, "layers": 1}, "gru": {"hidden": 8, "layers": 1},
          "transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16}}


def test_a_tuned_compare_gives_every_model_n_trials_and_trains_the_chosen(
        prefect_server: None, forecast_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    argv = ["compare", str(forecast_csv), "--out", str(out), "--epochs", "2", "--folds", "1",
            "--lookback", "8", "--horizon", "3", "--seeds", "1",
            "--set", "train.batch_size=16", "--set", "train.workers=2",
            "--set", "train.tune.trials=3", "--set", "train.tune.confirm_runs=2",
            "--set", "evaluate.references=false",
            "--set", "promote.must_beat=[]", "--set", f"models={json.dumps(MODELS)}"]
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    run = Layout((out / "latest").resolve())
    tuning = read(Tuning, run.trials)
    assert [a.model for a in tuning.arms] == list(MODELS)
    for arm in tuning.arms:
        assert [t.number for t in arm.trials] == [0, 1, 2]
        assert all(t.state in ("complete", "pruned") and 0 < t.steps <= t.max_steps
                   for t in arm.trials)
        assert arm.chosen is not None
        card = read(ModelCard, run.card(Job(arm.model, 0, 0)))
        assert card.spec == arm.chosen.spec and card.spec.lr is not None
        confirmed = [(t.number, t.seed) for t in arm.confirm]  # on the pool, like the trials
        assert confirmed == ([] if arm.pick == 0 else [(arm.pick, 1), (arm.pick, 2), (0, 1),
                                                        (0, 2)]), arm.model
        assert all(t.state == "complete" and 0 < t.steps <= t.max_steps for t in arm.confirm)
        assert arm.best in (arm.pick, 0)
    assert any(arm.confirm for arm in tuning.arms)  # this data's searches pick another trial
    assert printed.err.count("trial ") >= 9 and "tuning 3 models x 3 trials" in printed.err
    assert printed.err.count(" seed 2, fold 0: val loss") == 2 * sum(bool(a.confirm)
                                                           for a in tuning.arms)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Tuning (3 trials per model)" in report
    assert all(f"| {name} | 3 |" in report for name in MODELS)
    assert "Tuning (3 trials per model)" in (out / "report.html").read_text(encoding="utf-8")
    assert run.study.exists() and not (out / "tuning").exists()  # only inside its run folder


def test_trials_run_on_dask_too(prefect_server: None, forecast_csv: Path,
                                tmp_path: Path) -> None:
    """train.runner: dask: the trials are tasks of the Dask cluster, as the trainings are."""
    pytest.importorskip("prefect_dask")
    from flows.pipeline import run_compare
    from tests.helpers import tiny_config

    models = {m: MODELS[m] for m in ("rnn", "gru")}
    cfg = tiny_config(forecast_csv, tmp_path / "out", models=models,
                      **{"train.runner": "dask", "train.tune.trials": 2,
                         "promote.gto_artifact": None})
    run_compare(cfg)
    tuning = read(Tuning, Layout((tmp_path / "out" / "latest").resolve()).trials)
    assert {a.model: [t.state for t in a.trials] for a in tuning.arms} == {
        "rnn": ["complete"] * 2, "gru": ["complete"] * 2}


def test_compare_untuned_trains_the_configured_models_too_and_says_what_changed(
        prefect_server: None, forecast_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    """--compare-untuned: the configured models train with the same seeds and folds in the
    run's untuned/ folder, scored there; the measured table's last row sets them beside the
    tuned ones and says whether the GRU/LSTM verdict changed; the HTML draws the trials."""
    from schemas.artifacts import Metrics

    out, models = tmp_path / "run", {m: MODELS["rnn"] for m in ("lstm", "gru")}
    argv = ["compare", str(forecast_csv), "--out", str(out), "--epochs", "2", "--folds", "1",
            "--lookback", "8", "--horizon", "3", "--seeds", "2", "--trials", "2",
            "--compare-untuned", "--set", "train.batch_size=16", "--set", "train.workers=2",
            "--set", "evaluate.references=false", "--set", "promote.must_beat=[]",
            "--set", f"models={json.dumps(models)}"]
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "… untuned      2 models x 2 seeds x 1 fold(s) = 4 runs" in printed.err
    run = Layout((out / "latest").resolve())
    untuned = run.untuned
    assert untuned.prepared.is_symlink() and untuned.prepared.resolve() == run.prepared
    for name in models:
        for seed in (0, 1):
            card = read(ModelCard, untuned.card(Job(name, seed, 0)))
            assert (card.spec.hidden, card.spec.lr) == (8, None)  # as configured
            assert read(ModelCard, run.card(Job(name, seed, 0))).spec.lr is not None
    before = read(Metrics, untuned.metrics)
    assert {r.model for r in before.rows() if r.kind == "model"} == set(models)
    after = read(Metrics, run.metrics)
    row = after.measured["tuned vs untuned"]
    for name in models:
        assert row[name] == (f"mase untuned {before.models[name].mase:.4f}, "
                             f"tuned {after.models[name].mase:.4f}")
    assert row["verdict"].split(":")[0] in ("changed", "unchanged")
    assert "| tuned vs untuned |" in (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<figcaption>each model's best validation loss by trial" in page
    assert not (out / "untuned").exists()  # only inside its run folder


def test_eight_trials_per_model_on_the_forecast_demo_under_one_budget(
        prefect_server: None, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The issue's check on the bundled demo: with train.tune.trials=8 every model gets
    exactly 8 trials, each under the very budget its trainings then get (a short one here:
    --steps 40), and the report's steps are the trials' own."""
    data = Path(__file__).resolve().parents[3] / "data" / "forecast.csv"
    if not data.exists():
        pytest.fail(f"{data} is missing: `dvc pull data.dvc` fetches the demo data")
    out = tmp_path / "demo"
    argv = ["compare", str(data), "--out", str(out), "--steps", "40", "--seeds", "1",
            "--set", "train.val_every=10", "--set", "train.tune.trials=8",
            "--set", "evaluate.references=false",
            "--set", "promote.must_beat=[]", "--set", "promote.gto_artifact=null"]
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    run = Layout((out / "latest").resolve())
    tuning = read(Tuning, run.trials)
    assert len(tuning.arms) == 6 and tuning.trials == 8
    for arm in tuning.arms:
        card = read(ModelCard, run.card(Job(arm.model, 0, 0)))
        assert [t.number for t in arm.trials] == list(range(8)), arm.model
        assert {t.max_steps for t in arm.trials} == {card.budget["max_steps"]} == {40}
        ran = [t for t in arm.trials if t.state in ("complete", "pruned")]
        assert all(0 < t.steps <= 40 for t in ran)
        assert len(ran) + arm.count("skipped") + arm.count("failed") == 8
        assert f"| {arm.model} | 8 |" in (out / "report.md").read_text(encoding="utf-8")
        assert f"{arm.steps:,}" in (out / "report.md").read_text(encoding="utf-8")
    assert printed.err.count("trial ") >= 48
