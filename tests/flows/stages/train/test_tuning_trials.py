"""train.tune's trials on tiny data, in this process (no Prefect): exactly N trials per model
under the training budget, and never a read of the test split."""

from pathlib import Path

import numpy as np
import pytest

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import train_model
from flows.stages.train.trial import run_trial
from flows.stages.validate.stage import run as validate
from modules.tuner import Tuner
from schemas.artifacts import read_state
from schemas.config import Config
from schemas.layout import Job, Layout
from schemas.tuning import Tuning
from tests.helpers import at, tiny_config

MODELS = {"rnn": {"hidden": 8, "layers": 1}, "transformer": {"d_model": 8, "heads": 2,
                                                            "layers": 1, "ff": 16}}


def _prepared(data: Path, out: Path, **overrides: object) -> Config:
    cfg = tiny_config(data, out, models=MODELS, **{"train.tune.trials": 3, **overrides})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    return cfg


def _tune(cfg: Config, layout: Layout) -> Tuning:
    """Every trial, one after another in this process."""
    tuner = Tuner(cfg.models, cfg.train, layout.study, read_state(layout))
    tuner.run(1, lambda tickets: (run_trial(cfg.train, layout, t) for t in tickets))
    return tuner.result(cfg.train.seed)


@pytest.mark.parametrize("kind", ["forecast", "classify"])
def test_every_model_gets_exactly_n_trials_of_the_training_budget(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cfg = _prepared(request.getfixturevalue(f"{kind}_csv"), tmp_path / "out")
    tuning = _tune(cfg, at(cfg))
    assert [a.model for a in tuning.arms] == list(MODELS)
    for arm in tuning.arms:
        assert [t.number for t in arm.trials] == [0, 1, 2]
        assert arm.chosen is not None and arm.chosen.state == "complete"
        done = [t for t in arm.trials if t.state == "complete"]
        assert arm.pick == min(done, key=lambda t: t.val_loss).number  # type: ignore[arg-type]
        assert arm.chosen.number in (arm.pick, 0)  # 0: sent back by the more runs
        for t in arm.trials:  # a trained trial: the budget's steps at most, seconds, a loss
            assert t.state in ("complete", "pruned")
            assert 0 < t.steps <= t.max_steps and t.seconds > 0 and t.val_loss is not None
            assert t.spec.lr is not None and t.params > 0
    assert at(cfg).study.stat().st_size > 0


def test_a_trial_over_the_parameter_cap_is_skipped_not_trained(forecast_csv: Path,
                                                                 tmp_path: Path) -> None:
    cfg = _prepared(forecast_csv, tmp_path / "out", **{"train.tune.max_params": 10})
    for arm in _tune(cfg, at(cfg)).arms:
        assert [t.state for t in arm.trials] == ["skipped"] * 3
        assert all(t.steps == 0 and t.params > 10 and "max_params" in t.note
                   for t in arm.trials)
        assert arm.chosen is None


def _poison(layout: Layout) -> None:
    """NaN in every test array and in each series row no train or val window reads."""
    with np.load(layout.arrays, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    lookback, horizon = read_state(layout).lookback, read_state(layout).horizon
    used = np.zeros(len(arrays["series"]), bool)
    for split in ("train", "val"):
        for start in arrays[f"start_{split}"]:
            used[start: start + lookback + horizon] = True
    arrays["series"][~used] = np.nan
    arrays["y_test"] = np.full_like(arrays["y_test"], np.nan)
    arrays["start_test"] = np.full_like(arrays["start_test"], 10**9)
    np.savez(layout.arrays, **arrays)


def test_a_trial_never_reads_the_test_split(forecast_csv: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The same trials on poisoned test data give the same losses, and no test key is read."""
    clean = _prepared(forecast_csv, tmp_path / "a", **{"train.tune.trials": 2})
    poisoned = _prepared(forecast_csv, tmp_path / "b", **{"train.tune.trials": 2})
    _poison(at(poisoned))
    read: list[str] = []
    real = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        lambda self, key: read.append(key) or real(self, key))
    one, two = _tune(clean, at(clean)), _tune(poisoned, at(poisoned))
    assert read and not [k for k in read if k.endswith("_test")]
    losses = [[t.val_loss for t in a.trials] for a in one.arms]
    assert losses == [[t.val_loss for t in a.trials] for a in two.arms]
    assert all(v is not None and np.isfinite(v) for arm in losses for v in arm)


def test_trials_share_the_budget_of_a_training(forecast_csv: Path, tmp_path: Path) -> None:
    """A trial's step budget is the one an untuned training of the same data gets."""
    cfg = _prepared(forecast_csv, tmp_path / "out", **{"train.max_epochs": None,
                                                      "train.max_steps": 40})
    card = train_model(cfg.models["rnn"], cfg.train, at(cfg), Job("rnn", 0, 0), [])
    arm = _tune(cfg, at(cfg)).arms[0]
    assert card["budget"]["max_steps"] == 40
    assert {t.max_steps for t in arm.trials} == {40}
    assert all(t.steps <= 40 for t in arm.trials) and max(t.steps for t in arm.trials) > 12


def test_trial_zero_is_the_configured_model_and_trains_like_an_untuned_run(
        forecast_csv: Path, tmp_path: Path) -> None:
    """Trial 0 of every model trains its configured spec exactly (lr and weight decay from
    train), to the validation loss an untuned training of seed train.seed reaches; the study
    records it as the nearest point of the space (weight decay 0 as its lowest, 1e-6)."""
    import optuna

    from modules.search import storage

    cfg = _prepared(forecast_csv, tmp_path / "out", **{"train.tune.trials": 2,
                                                      "train.weight_decay": 0.0})
    tuning = _tune(cfg, at(cfg))
    for arm in tuning.arms:
        zero = arm.trials[0]
        assert zero.spec == cfg.models[arm.model].model_copy(
            update={"lr": cfg.train.lr, "weight_decay": 0.0})
        study = optuna.load_study(study_name=arm.model, storage=storage(at(cfg).study))
        point = study.trials[0].params
        assert point["lr"] == cfg.train.lr and point["weight_decay"] == 1e-6
        assert arm.trials[1].spec != zero.spec  # then the sampler's own points
    card = train_model(cfg.models["rnn"], cfg.train, at(cfg), Job("rnn", cfg.train.seed, 0), [])
    assert card["best_val_loss"] == pytest.approx(tuning.arms[0].trials[0].val_loss, rel=1e-5)


def test_more_runs_decide_between_the_pick_and_the_configured_settings(
        forecast_csv: Path, tmp_path: Path) -> None:
    """With confirm_runs 2 on 2 folds, a model whose search picked another trial than trial 0
    runs both again (seeds 1 and 2, on fold 1 like every trial: the earliest origin; one
    round, nothing told to the study); the pick stays only if its losses on those runs stay
    lower (geometric mean of the ratios; the search's run, which chose it, does not count).
    A model whose trial 0 was best runs nothing more."""
    from schemas.tuning import Ticket, TrialRecord

    cfg = _prepared(forecast_csv, tmp_path / "out", **{"train.tune.confirm_runs": 2,
                                                      "forecast.folds": 2})
    search = {"rnn": [0.5, 0.3, 0.6], "transformer": [0.2, 0.3, 0.4]}  # rnn picks trial 1
    again: dict[int, list[float | None]] = {1: [5.0, 0.6], 0: [4.5, 0.5]}  # runs 1, 2
    rounds: list[list[Ticket]] = []

    def run_round(tickets: list[Ticket]) -> list[TrialRecord]:
        rounds.append(tickets)
        return [TrialRecord(model=t.model, number=t.number, state="complete", spec=t.spec,
                            params=t.params, steps=10, max_steps=10, seconds=1.0, seed=t.seed,
                            fold=t.fold, val_loss=search[t.model][t.number] if t.seed is None
                            else again[t.number][t.seed - 1]) for t in tickets]

    def best() -> int | None:
        tuner = Tuner(cfg.models, cfg.train, tmp_path / f"{len(rounds)}.journal",
                      read_state(at(cfg)))
        tuner.run(3, run_round)
        return tuner.result(cfg.train.seed).arms[0].best

    tuner = Tuner(cfg.models, cfg.train, at(cfg).study, read_state(at(cfg)))
    tuner.run(3, run_round)
    assert [(t.model, t.number, t.seed, t.fold) for t in rounds[-1]] == [
        ("rnn", 1, 1, 1), ("rnn", 1, 2, 1), ("rnn", 0, 1, 1), ("rnn", 0, 2, 1)]
    assert all(t.seed is None and t.fold == 1 for r in rounds[:-1] for t in r)
    assert [t.label for t in rounds[-1]] == ["rnn-1-seed1", "rnn-1-seed2", "rnn-0-seed1",
                                             "rnn-0-seed2"]  # their task runs' names
    assert rounds[0][0].label == "rnn-0"
    result = tuner.result(cfg.train.seed)
    rnn, transformer = result.arms
    assert result.fold == 1 and rnn.fresh(1) == [5.0, 0.6] and rnn.fresh(0) == [4.5, 0.5]
    assert (rnn.pick, rnn.best, rnn.chosen.number) == (1, 0, 0)  # type: ignore[union-attr]
    # 1.15: trial 0 stays (with the search's 0.6 counted, 0.93 would have kept the pick)
    assert rnn.ratio() == pytest.approx((5.0 / 4.5 * 1.2) ** 0.5)
    assert (transformer.pick, transformer.best, transformer.confirm) == (0, 0, [])
    assert rnn.steps == 70 and transformer.steps == 30
    again[1] = [4.0, 0.4]  # now (0.89 * 0.8) ** (1/2) = 0.84: the pick stays
    assert best() == 1
    again[1] = [None, 0.1]  # a failed run of the pick: trial 0 stays
    assert best() == 0
    again[1], again[0] = [9.0, 0.6], [None, 0.5]  # trial 0's failed run is not judged
    assert best() == 0
    again[0] = [None, None]  # trial 0 failed every run: the pick stays
    assert best() == 1
    search["rnn"] = [0.5, 0.3, 0.6]
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"tune": cfg.train.tune
                                 .model_copy(update={"confirm_runs": 0})})})
    rounds.clear()
    assert best() == 1 and len(rounds) == 1


def test_a_pruned_trial_0_still_runs_again_against_the_pick() -> None:
    """However trial 0 ended in the search (here pruned), a pick of another trial is judged
    on confirmation runs of both; a NaN loss is never the pick, in any order."""
    from modules.tuner import decide, pick
    from schemas.specs import RecurrentSpec
    from schemas.tuning import ArmTuning, TrialRecord

    spec = RecurrentSpec(arch="rnn")

    def record(number: int, loss: float | None, state: str = "complete",
               seed: int | None = None) -> TrialRecord:
        return TrialRecord(model="rnn", number=number, state=state, spec=spec,  # type: ignore[arg-type]
                           params=1, val_loss=loss, seed=seed)

    nan = [record(0, float("nan")), record(1, 0.5)]
    assert pick(nan) == pick(nan[::-1]) == 1
    arm = ArmTuning(model="rnn", space=[], trials=[record(0, 0.4, "pruned"), record(1, 0.5)],
                    pick=1, confirm=[record(1, 0.6, seed=1), record(0, 0.5, seed=1)])
    assert decide(arm) == 0 and arm.ratio() == pytest.approx(1.2)


def test_confirmation_runs_pair_by_seed_and_a_missing_run_of_the_pick_loses() -> None:
    """The pick's and trial 0's confirmation runs are judged seed against seed, whatever
    order they were recorded in; a seed that trial 0 ran and the pick did not counts as a
    failed run of the pick (trial 0 stays); a seed only the pick ran is not judged."""
    from modules.tuner import decide
    from schemas.specs import RecurrentSpec
    from schemas.tuning import ArmTuning, TrialRecord

    spec = RecurrentSpec(arch="rnn")

    def run(number: int, seed: int, loss: float) -> TrialRecord:
        return TrialRecord(model="rnn", number=number, state="complete", spec=spec,
                           params=1, val_loss=loss, seed=seed)

    def arm(*runs: TrialRecord) -> ArmTuning:
        return ArmTuning(model="rnn", space=[], trials=[run(0, 0, 0.5), run(1, 0, 0.4)],
                         pick=1, confirm=list(runs))

    shuffled = arm(run(1, 2, 0.9), run(0, 1, 0.5), run(1, 1, 0.4), run(0, 2, 1.0))
    assert shuffled.pairs() == [(0.4, 0.5), (0.9, 1.0)]
    assert decide(shuffled) == 1 and not shuffled.lost()
    missing = arm(run(1, 1, 0.1), run(0, 1, 0.5), run(0, 2, 1.0))  # the pick lacks seed 2
    assert missing.lost() and decide(missing) == 0 and missing.pairs() == [(0.1, 0.5)]
    extra = arm(run(1, 1, 0.1), run(1, 2, 9.0), run(0, 1, 0.5))  # seed 2: trial 0 lacks it
    assert not extra.lost() and extra.pairs() == [(0.1, 0.5)] and decide(extra) == 1


def test_a_confirmation_run_trains_like_an_untuned_run_of_its_seed_and_fold(
        forecast_csv: Path, tmp_path: Path) -> None:
    """Trial 0 run again with seed 1 on fold 1 reaches the validation loss of the untuned
    training of seed 1 on fold 1, unpruned, and the study does not see it."""
    import optuna

    from modules.search import storage
    from schemas.tuning import Ticket

    cfg = _prepared(forecast_csv, tmp_path / "out", **{"train.tune.trials": 1,
                                                      "forecast.folds": 2})
    tuning = _tune(cfg, at(cfg))
    zero = tuning.arms[0].trials[0]
    assert tuning.fold == 1 and zero.fold == 1  # the search ran on fold 1 too
    ticket = Ticket(model="rnn", number=0, trial_id=-1, spec=zero.spec, params=zero.params,
                    study=str(at(cfg).study), seed=1, fold=1)
    record = run_trial(cfg.train, at(cfg), ticket)
    card = train_model(cfg.models["rnn"], cfg.train, at(cfg), Job("rnn", 1, 1), [])
    assert (record.seed, record.fold, record.state, record.note) == (1, 1, "complete", "")
    assert record.val_loss == pytest.approx(card["best_val_loss"], rel=1e-5)
    assert record.max_steps == card["budget"]["max_steps"]
    assert record.val_loss != pytest.approx(zero.val_loss, rel=1e-5)
    study = optuna.load_study(study_name="rnn", storage=storage(at(cfg).study))
    assert len(study.trials) == 1


@pytest.mark.parametrize("val_fraction", [0.15, 0.1, 0.25])
def test_the_tuning_fold_reads_no_row_that_a_fold_scores(val_fraction: float) -> None:
    """Every row of the earliest origin's train and val splits comes before every fold's test
    rows, in every series; fold 0's val rows would be fold 1's test rows, which is why
    trials do not run on fold 0 when there are more folds."""
    import polars as pl

    from flows.stages.preprocess.stage import _time_split
    from flows.stages.preprocess.transforms import SID, SPLIT
    from schemas.data import Roles

    frame = pl.DataFrame({SID: ["a"] * 40 + ["b"] * 73, "t": [*range(40), *range(73)]})
    roles = Roles(task="forecast", time="t", features=(), target="y")
    folds = [_time_split(frame, roles, val_fraction, 0.15, k)[0] for k in range(3)]

    def rows(split: pl.DataFrame, part: str) -> set[tuple[str, int]]:
        return set(split.filter(pl.col(SPLIT) == part).select(SID, "t").iter_rows())

    scored = set().union(*(rows(f, "test") for f in folds))
    read = rows(folds[-1], "train") | rows(folds[-1], "val")
    for sid in ("a", "b"):
        assert max(t for s, t in read if s == sid) < min(t for s, t in scored if s == sid)
    assert rows(folds[0], "val") & rows(folds[1], "test")
