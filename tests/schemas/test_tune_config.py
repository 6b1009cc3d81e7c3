"""train.tune and the presets in the typed config."""

import pytest

from schemas.config import PRESETS, Config, load_config
from schemas.errors import UsageError


def test_tuning_is_off_by_default_and_typos_are_refused() -> None:
    assert Config().train.tune.trials == 0
    cfg = load_config(None, {"train.tune.trials": 8, "train.tune.pruner": "halving"})
    assert (cfg.train.tune.trials, cfg.train.tune.pruner) == (8, "halving")
    with pytest.raises(UsageError, match=r"train\.tune\.trails"):
        load_config(None, {"train.tune.trails": 8})
    with pytest.raises(UsageError, match=r"train\.tune\.trials"):
        load_config(None, {"train.tune.trials": -1})


def test_the_thorough_preset_tunes_with_three_seeds_and_up_to_three_folds() -> None:
    cfg = load_config(None, PRESETS["thorough"])
    assert (cfg.train.tune.trials, cfg.train.seeds) == (20, 3)
    assert cfg.forecast.folds == "up to 3" and cfg.forecast.folds_cap() == 3


@pytest.mark.parametrize("folds", ["up to 0", "up to 21", "upto 3", "3 at most"])
def test_folds_up_to_is_checked(folds: str) -> None:
    with pytest.raises(UsageError, match=r"forecast\.folds"):
        load_config(None, {"forecast.folds": folds})
