"""Latency, memory and size measured the same way for every model."""

from __future__ import annotations

import time

import pytest
import torch
from pydantic import TypeAdapter
from torch import nn

from modules.batching import Ragged, Windows
from modules.cost import latency
from modules.lit import build_module
from schemas.specs import ModelSpec


class Recorder(nn.Module):
    """Records what each call saw: first-column values, thread count, grad and mode."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.sleep_s, self.calls = sleep_s, []

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append({"rows": x[:, 0, 0].tolist(), "threads": torch.get_num_threads(),
                           "grad": torch.is_grad_enabled(), "training": self.training,
                           "lengths": None if lengths is None else lengths.tolist()})
        time.sleep(self.sleep_s)
        return x.sum(dim=(1, 2))


def windows(n: int = 20) -> tuple[torch.Tensor]:
    """n forecast-like windows (n, 4, 2) whose first cell is the row number."""
    x = torch.zeros(n, 4, 2)
    x[:, 0, 0] = torch.arange(n, dtype=torch.float32)
    return (x,)


def test_a_batch_is_the_first_rows_and_the_figures_are_ordered() -> None:
    module = Recorder()
    got = latency(module, windows(), batch_size=8, min_reps=12, min_seconds=0.0, warmup=3)
    assert len(module.calls) == 3 + got["reps"] and got["reps"] >= 12
    assert all(c["rows"] == list(range(8)) for c in module.calls)
    assert got["batch"] == 8
    assert got["min_ms"] <= got["p50_ms"] <= got["p95_ms"]
    assert got["throughput_per_s"] == pytest.approx(8 / (got["p50_ms"] / 1000))


def test_batch_one_cycles_through_the_rows() -> None:
    module = Recorder()
    latency(module, windows(5), batch_size=1, min_reps=9, min_seconds=0.0, warmup=2)
    assert [c["rows"] for c in module.calls] == [[i % 5] for i in range(11)]


def test_a_batch_larger_than_the_split_is_the_split() -> None:
    module = Recorder()
    got = latency(module, windows(6), batch_size=64, min_reps=3, min_seconds=0.0, warmup=1)
    assert got["batch"] == 6 and module.calls[-1]["rows"] == list(range(6))


def test_ragged_sequences_are_padded_per_batch() -> None:
    rows = torch.arange(9, dtype=torch.float32)[:, None].repeat(1, 2)  # lengths 2, 3, 4
    seqs = Ragged(rows, torch.tensor([2, 3, 4]))
    module = Recorder()
    latency(module, (seqs,), batch_size=1, min_reps=3, min_seconds=0.0, warmup=0)
    assert [c["lengths"] for c in module.calls] == [[2], [3], [4]]
    assert [c["rows"] for c in module.calls] == [[0.0], [2.0], [5.0]]  # each one's first row


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_seqarena_modules_with_their_split_inputs(task: str) -> None:
    """The inputs evaluate passes: (Windows,) for forecasting, (Ragged,) for classification."""
    spec = TypeAdapter(ModelSpec).validate_python({"arch": "lstm", "hidden": 8, "layers": 1})
    module = build_module(task, spec, n_features=3, n_out=4)
    rows = torch.randn(60, 3)
    inputs = ((Windows(rows, torch.arange(0, 40, 4), 12),) if task == "forecast"
              else (Ragged(rows, torch.tensor([5, 9, 12, 7, 20, 7])),))
    for batch in (1, 4):
        got = latency(module, inputs, batch_size=batch, min_reps=5, min_seconds=0.0)
        assert got["batch"] == batch and got["reps"] >= 5 and got["p50_ms"] > 0


def test_threads_grad_and_mode_during_and_after() -> None:
    before = torch.get_num_threads()
    module = Recorder()
    module.train()
    try:
        torch.set_num_threads(3)
        latency(module, windows(), batch_size=4, threads=1, min_reps=3, min_seconds=0.0)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert all(c["threads"] == 1 and not c["grad"] and not c["training"] for c in module.calls)
    assert module.training and torch.is_grad_enabled()


def test_timing_runs_at_least_min_seconds() -> None:
    start = time.perf_counter()
    got = latency(Recorder(), windows(), batch_size=2, min_reps=1, min_seconds=0.3, warmup=0)
    assert time.perf_counter() - start >= 0.3 and got["reps"] > 1


def test_a_2ms_call_reads_about_2ms() -> None:
    got = latency(Recorder(sleep_s=0.002), windows(), batch_size=4, min_reps=20,
                  min_seconds=0.1)
    assert 2.0 <= got["p50_ms"] <= 20.0
    assert got["p50_ms"] <= got["p95_ms"]


def test_onnx_runtime_is_timed_on_the_same_batches_as_pytorch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from modules.cost import onnx_cost

    spec = TypeAdapter(ModelSpec).validate_python({"arch": "lstm", "hidden": 8})
    module = build_module("classify", spec, 2, 3).eval()
    seqs = Ragged(torch.randn(60, 2), torch.tensor([10, 20, 30]))
    cost = onnx_cost(module, (seqs,), 1, 256, 3, 1)
    assert cost["onnx_exporter"] == "torchscript"
    assert 0 < cost["onnx_latency_ms"] <= cost["onnx_latency_p95_ms"]
    assert cost["onnx_throughput_per_s"] > 0
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert onnx_cost(module, (seqs,), 1, 256, 3, 1) == {}  # not installed: PyTorch's only
