"""Every registered architecture, both tasks, exports to ONNX and passes parity: ONNX Runtime
computes what PyTorch computes, over batches of mixed lengths and alone."""

import time

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from modules.arrays import sorted_batches, windows
from modules.backbones import BACKBONES
from modules.batching import Ragged, Windows
from modules.export import TOLERANCE, export_checked
from modules.lit import build_module
from schemas.specs import ModelSpec

SMALL = {"rnn": {"hidden": 16}, "lstm": {"hidden": 16}, "gru": {"hidden": 16},
         "hybrid": {"hidden": 16}, "transformer": {"d_model": 16, "heads": 2, "ff": 32},
         "cnn": {"channels": 12, "blocks": 2, "kernels": [3, 5]}, "linear": {}}
VARIANTS = {**{a: {"arch": a, **SMALL[a]} for a in BACKBONES},
            "lstm-bidirectional": {"arch": "lstm", "hidden": 16, "bidirectional": True},
            "hybrid-bidirectional": {"arch": "hybrid", "hidden": 16, "bidirectional": True},
            "gru-stem": {"arch": "gru", "hidden": 16, "stem": 3},
            "transformer-default": {"arch": "transformer", "d_model": 64, "heads": 4, "ff": 192}}


def _spec(name: str) -> ModelSpec:
    return TypeAdapter(ModelSpec).validate_python(VARIANTS[name])


def _forecast_inputs(gen: np.random.Generator) -> tuple:
    rows = gen.normal(size=(300, 3)).astype(np.float32)
    return (Windows.from_numpy(rows, np.arange(0, 300 - 24, 5), 24),)


def _classify_inputs(gen: np.random.Generator) -> tuple:
    lengths = gen.integers(2, 61, size=23)
    lengths[0] = 60
    rows = gen.normal(size=(int(lengths.sum()), 3)).astype(np.float32)
    return (Ragged.from_numpy(rows, lengths),)


def test_the_variants_cover_every_registered_architecture() -> None:
    assert set(BACKBONES) <= set(VARIANTS) and set(BACKBONES) == set(SMALL)


CASES = [(task, name) for name in VARIANTS for task in ("forecast", "classify")
         if task == "classify" or not ("bidirectional" in name or "stem" in name)]


@pytest.mark.parametrize(("task", "name"), CASES)
def test_every_architecture_exports_with_parity(task: str, name: str) -> None:
    torch.manual_seed(0)
    gen = np.random.default_rng(0)
    inputs = _forecast_inputs(gen) if task == "forecast" else _classify_inputs(gen)
    module = build_module(task, _spec(name), 3, 5, lookback=24).eval()
    for m in module.modules():  # batch norm with running statistics a trained net would have
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    start = time.perf_counter()
    blob, exporter, parity, tried = export_checked(module, inputs, "synthetic")
    assert parity.max_abs_diff <= TOLERANCE and parity.items == len(inputs[0])
    assert parity.same_class is (True if task == "classify" else None)
    assert tried[-1].exporter == exporter and len(blob) > 0
    assert time.perf_counter() - start < 120  # a sanity bound, not a speed goal


def test_numpy_batches_are_the_torch_batches() -> None:
    gen = np.random.default_rng(1)
    lengths = gen.integers(1, 3000, size=40)
    from modules.batching import sorted_batches as torch_batches

    want = [b.numpy() for b in torch_batches(torch.from_numpy(lengths), 32)]
    got = sorted_batches(lengths, 32)
    assert len(want) == len(got) and all((w == g).all() for w, g in zip(want, got, strict=True))
    rows = gen.normal(size=(50, 2)).astype(np.float32)
    starts = np.array([0, 7, 26])
    w = Windows.from_numpy(rows, starts, 24)
    assert np.array_equal(windows(rows, starts, 24), w[torch.arange(3)].numpy())
