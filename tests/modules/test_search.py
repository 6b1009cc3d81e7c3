"""The search spaces of train.tune: every architecture declares one, every point of it is a
valid spec that builds, and the configured defaults lie inside the parameter cap."""

import optuna
import pytest
import torch

from modules.lit import build_module
from modules.search import distributions, sampled_spec
from schemas.config import Config, TuneConfig
from schemas.specs import SPEC_OF

DEFAULTS = {"rnn": {}, "lstm": {}, "gru": {}, "hybrid": {}, "transformer": {}, "cnn": {},
            "linear": {}}


def _size(spec: object, task: str = "forecast") -> int:
    with torch.device("meta"):
        module = build_module(task, spec, n_features=3, n_out=7, lookback=32)
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("arch", sorted(SPEC_OF))
def test_every_sampled_point_is_a_spec_that_builds(arch: str) -> None:
    base = SPEC_OF[arch].model_validate({"arch": arch})
    names = {d.name for d in SPEC_OF[arch].SPACE}
    assert {"lr", "weight_decay"} <= names <= set(SPEC_OF[arch].model_fields)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(25):
        trial = study.ask(distributions(SPEC_OF[arch]))
        spec = sampled_spec(base, trial.params)
        assert spec.lr is not None and type(spec) is type(base)
        for task in ("forecast", "classify"):
            assert _size(spec, task) > 0


def test_the_default_models_lie_inside_the_parameter_cap() -> None:
    cap = TuneConfig().max_params
    for name, spec in Config().models.items():
        assert _size(spec) <= cap, name


@pytest.mark.parametrize("arch", sorted(SPEC_OF))
def test_the_largest_point_of_every_space_stays_under_the_cap(arch: str) -> None:
    """The stated range: every sampled model has at most tune.max_params parameters with up
    to 8 inputs and 24 outputs (wider data may exceed it; such trials are skipped)."""
    top = {d.name: (d.choices[-1] if d.choices else d.high) for d in SPEC_OF[arch].SPACE}
    spec = sampled_spec(SPEC_OF[arch].model_validate({"arch": arch}), top)
    for task in ("forecast", "classify"):
        with torch.device("meta"):
            module = build_module(task, spec, n_features=8, n_out=24, lookback=512)
        assert sum(p.numel() for p in module.parameters()) <= TuneConfig().max_params
