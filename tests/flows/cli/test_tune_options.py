"""`--trials` and `--preset thorough` set train.tune; an explicit option wins over a preset."""

from flows.cli.args import build_parser, overrides
from schemas.config import load_config


def _cfg(*argv: str):
    return load_config(None, overrides(build_parser().parse_args(["compare", "x.csv", *argv])))


def test_trials_and_the_thorough_preset() -> None:
    assert _cfg().train.tune.trials == 0
    assert _cfg("--trials", "4").train.tune.trials == 4
    thorough = _cfg("--preset", "thorough")
    assert (thorough.train.tune.trials, thorough.train.seeds) == (20, 3)
    assert thorough.forecast.folds == "up to 3"
    mine = _cfg("--preset", "thorough", "--trials", "2", "--folds", "1")
    assert (mine.train.tune.trials, mine.forecast.folds) == (2, 1)


def test_compare_untuned_needs_trials() -> None:
    import pytest

    from schemas.errors import UsageError

    assert _cfg("--trials", "2", "--compare-untuned").train.tune.compare_untuned
    assert not _cfg("--trials", "2").train.tune.compare_untuned
    with pytest.raises(UsageError, match="compare_untuned .* but trials is 0; set "
                       r"train.tune.trials \(--trials N\)"):
        _cfg("--compare-untuned")
