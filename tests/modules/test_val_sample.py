"""Validation that scales: a check scores at most VAL_CHECK_MAX items, the same seeded sample
for every model, and the kept weights are then scored on the whole validation split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import modules.budget
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import train_model
from flows.stages.validate.stage import run as validate
from modules.batching import Ragged, Windows, subset, take
from modules.budget import plan_budget
from modules.lit import SequenceModule
from modules.model_files import load_model
from modules.training import check_sample, full_val_loss, split_tensors
from schemas.artifacts import read_arrays, read_state
from schemas.config import TrainConfig
from schemas.layout import Job
from tests.helpers import at, tiny_config


def test_the_sample_is_seeded_sorted_and_only_for_large_splits() -> None:
    assert check_sample(100, None) is None and check_sample(100, 100) is None
    a, b = check_sample(10_000, 50), check_sample(10_000, 50)
    assert torch.equal(a, b) and len(a.unique()) == 50 and torch.equal(a, a.sort().values)
    assert not torch.equal(a, check_sample(10_000, 50, seed=1))


def test_a_subset_keeps_the_items_as_take_gives_them() -> None:
    idx = torch.tensor([0, 2])
    windows = (Windows(torch.arange(20.0).reshape(10, 2), torch.tensor([0, 3, 5]), 4),
               torch.tensor([7.0, 8.0, 9.0]))
    ragged = (Ragged(torch.arange(12.0).reshape(6, 2), torch.tensor([1, 3, 2])),
              torch.tensor([0, 1, 2]))
    for inputs in (windows, ragged):
        kept = subset(inputs, idx)
        for got, want in zip(take(kept, torch.arange(2)), take(inputs, idx), strict=True):
            assert torch.equal(got, want)


def test_the_budget_samples_a_large_validation_split_and_says_so() -> None:
    tc = TrainConfig()
    assert plan_budget(tc, 32, 100, n_val=modules.budget.VAL_CHECK_MAX).val_items is None
    big = plan_budget(tc, 32, 100, n_val=15_000)
    assert big.val_items == modules.budget.VAL_CHECK_MAX
    assert f"{modules.budget.VAL_CHECK_MAX:,} sampled validation items" in big.describe()


def test_checks_see_the_sample_and_the_card_keeps_the_full_split_loss(
        forecast_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modules.budget, "VAL_CHECK_MAX", 10)
    cfg = tiny_config(forecast_csv, tmp_path / "out")
    layout = at(cfg)
    validate(cfg, layout)
    preprocess(cfg, layout)
    seen: list[int] = []
    step = SequenceModule.validation_step

    def counting(self: SequenceModule, batch: tuple, i: int) -> None:
        seen.append(len(batch[-1]))
        step(self, batch, i)

    monkeypatch.setattr(SequenceModule, "validation_step", counting)
    card = train_model(cfg.models["lstm"], cfg.train, layout, Job("lstm"))
    state, arrays = read_state(layout), read_arrays(layout)
    val = split_tensors(arrays, "forecast", "val")
    assert len(val[0]) > 10 and card["budget"]["val_items"] == 10
    checks = len(card["history"])
    assert sum(seen) >= 10 * checks and set(seen) <= set(range(1, 11))  # sanity check aside
    module, _ = load_model(layout.job_dir(Job("lstm")), state)
    weights = module.state_dict()
    assert card["best_val_loss"] == pytest.approx(full_val_loss(module, weights, val, 64))
