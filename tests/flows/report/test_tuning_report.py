"""The report's tuning table: per model, trials by state, steps, seconds, the chosen settings
and the range searched; escaped like every user value; absent when not tuning."""

import pytest

from flows.report.html import tuning_html
from flows.report.markdown import tuning_lines
from flows.report.view import tuning_view
from schemas.specs import RecurrentSpec
from schemas.tuning import ArmTuning, TrialRecord, Tuning


def _tuning() -> Tuning:
    spec = RecurrentSpec(arch="gru", hidden=40, layers=2, dropout=0.05, lr=0.002,
                         weight_decay=1e-4)
    trials = [TrialRecord(model="g<r>u", number=0, state="complete", spec=spec, params=900,
                          steps=100, max_steps=100, val_loss=0.5, seconds=2.0),
              TrialRecord(model="g<r>u", number=1, state="pruned", spec=spec, params=900,
                          steps=40, max_steps=100, val_loss=0.9, seconds=1.0),
              TrialRecord(model="g<r>u", number=2, state="skipped", spec=spec, params=10**7)]
    arm = ArmTuning(model="g<r>u", space=[d.describe() for d in RecurrentSpec.SPACE],
                    trials=trials, pick=0, best=0)
    return Tuning(trials=3, sampler="TPE sampler (seed 0)", pruner="median",
                  max_params=10**6, arms=[arm])


def test_the_table_counts_every_trial_and_names_the_choice_and_the_range() -> None:
    rows, note = tuning_view(_tuning())
    assert rows == [["g<r>u", "3", "1", "1", "1", "0", "140", "3.0", "0.5",
                     "not needed: trial 0 was best",
                     "lr 0.002, weight_decay 0.0001, hidden 40, layers 2, dropout 0.05",
                     "lr 0.0003-0.01 (log); weight_decay 1e-06-0.01 (log); hidden 16-192 "
                     "(log); layers 1-3; dropout 0-0.3"]]
    assert "test split was never read" in note and "1,000,000 parameters" in note


def test_markdown_and_html_escape_and_say_nothing_untuned() -> None:
    assert tuning_lines(None) == [] and tuning_html(None) == ""
    md = "\n".join(tuning_lines(_tuning()))
    assert "## Tuning (3 trials per model)" in md and "<r>" not in md
    page = tuning_html(_tuning())
    assert "g&lt;r&gt;u" in page and "<r>" not in page


def test_a_model_without_a_complete_trial_trains_as_configured() -> None:
    tuning = _tuning()
    arm = tuning.arms[0].model_copy(update={"pick": None, "best": None})
    rows, _ = tuning_view(tuning.model_copy(update={"arms": [arm]}))
    assert rows[0][8:11] == ["-", "-", "none completed: trained as configured"]


def _confirmed(*runs: tuple[float | None, float | None]) -> ArmTuning:
    """An arm whose search picked trial 1 (0.4 against trial 0's 0.5 on seed 0), then ran
    both again on seeds 1, 2, ... with validation losses `runs` (trial 1's, trial 0's)."""
    from modules.tuner import decide

    arm = _tuning().arms[0]
    one = arm.trials[0].model_copy(update={"number": 1, "val_loss": 0.4, "spec": arm.trials[
        0].spec.model_copy(update={"hidden": 80})})
    again = [t.model_copy(update={"seed": seed, "val_loss": v, "state": "complete" if v else
                                  "failed"})
             for seed, pair in enumerate(runs, 1) for t, v in zip([one, arm.trials[0]], pair,
                                                                    strict=True)]
    arm = arm.model_copy(update={"trials": [arm.trials[0], one, arm.trials[2]],
                                 "confirm": again, "pick": 1})
    return arm.model_copy(update={"best": decide(arm)})


def test_the_table_says_how_more_runs_judged_the_pick() -> None:
    won, lost = _confirmed((0.45, 0.6)), _confirmed((0.7, 0.45))
    failed, zero_failed = _confirmed((None, 0.5)), _confirmed((0.45, None))
    some_failed = _confirmed((0.45, None), (0.5, 0.4))
    assert (won.best, lost.best, failed.best, zero_failed.best, some_failed.best) == (
        1, 0, 0, 1, 0)
    tuning = _tuning().model_copy(update={"confirm_runs": 1, "arms": [
        won, lost, failed, zero_failed, some_failed]})
    rows, note = tuning_view(tuning)
    assert [r[9] for r in rows] == [
        "#1 kept: #1's val loss 0.75x trial 0's over 1 more run",  # the search's run not counted
        "trial 0 kept: #1's val loss 1.56x trial 0's over 1 more run",
        "trial 0 kept: a run of #1 failed", "#1 kept: trial 0 failed its 1 more run",
        "trial 0 kept: #1's val loss 1.25x trial 0's over 1 more run (1 failed run of trial 0 "
        "left out)"]
    assert [r[10].split(",")[2] for r in rows] == [" hidden 80", " hidden 40", " hidden 40",
                                                   " hidden 80", " hidden 40"]
    assert [r[6] for r in rows] == ["400"] * 4 + ["600"]  # 2 trials, confirmation runs of 100
    assert "stayed better over 1 more run of both" in note
    assert "not on the search's run that chose it" in note
    unconfirmed = won.model_copy(update={"confirm": [], "best": 1})
    assert tuning_view(_tuning().model_copy(update={"arms": [unconfirmed]}))[0][0][9] == \
        "none: one run decided"


def test_the_pick_must_stay_better_on_the_ratio_of_each_run() -> None:
    """Run losses on two scales (folds, series): the ratio decides, not the larger scale's
    mean."""
    arm = _confirmed((0.2, 0.5), (44.0, 40.0))  # means: 22.1 against 20.25, trial 0 better
    assert arm.ratio() == pytest.approx((0.4 * 1.1) ** 0.5) and arm.best == 1
    arm = _confirmed((0.9, 0.5), (36.0, 40.0))  # means: 18.45 against 20.25, the pick better
    assert arm.ratio() == pytest.approx((1.8 * 0.9) ** 0.5) and arm.best == 0


def test_the_html_draws_each_models_best_validation_loss_by_trial() -> None:
    from flows.report.plots import tuning_curves

    drawn = tuning_curves(_tuning())
    assert drawn is not None and drawn.startswith("<svg")
    page = tuning_html(_tuning())
    assert "<figcaption>each model's best validation loss by trial" in page
    assert "and those are the scores above.</p>" in page  # the whole note, not cut short
    arm = _tuning().arms[0]
    lossless = [t.model_copy(update={"val_loss": None}) for t in arm.trials]
    none = _tuning().model_copy(update={"arms": [arm.model_copy(update={"trials": lossless})]})
    assert tuning_curves(none) is None and "<figure>" not in tuning_html(none)
