"""Cost measured the same way for every model: inference latency and throughput at a fixed
batch size and thread count, the process's peak memory, and the size of a saved model."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from modules.batching import take
from modules.onnx_engine import OnnxModel


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to `n` inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _evaluating(module: torch.nn.Module) -> Iterator[None]:
    """The module in eval mode without autograd inside the block, its mode restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def _batches(inputs: tuple, batch_size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless batches: rows 0..batch_size-1 each time, or at batch 1 row 0, 1, 2, ... cycling."""
    n = len(inputs[0])
    if batch_size > 1:
        fixed = take(inputs, torch.arange(min(batch_size, n)))
        while True:
            yield fixed
    i = 0
    while True:
        yield take(inputs, torch.tensor([i % n]))
        i += 1


def _call_seconds(module: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> float:
    """Wall time of one forward call (waiting for the GPU when the batch is on one)."""
    cuda = batch[0].is_cuda
    start = time.perf_counter()
    module(*batch)
    if cuda:
        torch.cuda.synchronize(batch[0].device)
    return time.perf_counter() - start


def _timed(call: Callable[[tuple], Any], batches: Iterator[tuple], rows: int, min_reps: int,
           min_seconds: float, warmup: int) -> dict[str, Any]:
    """`call` on successive batches: `warmup` untimed calls, then timed until both `min_reps`
    calls and `min_seconds` of wall time are reached; latency (ms) and throughput (rows/s)."""
    for _ in range(warmup):
        call(next(batches))
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        times.append(call(next(batches)))
    seconds = np.asarray(times)
    median = float(np.median(seconds))
    return {"batch": rows, "p50_ms": 1000 * median,
            "p95_ms": 1000 * float(np.percentile(seconds, 95)),
            "min_ms": 1000 * float(seconds.min()), "reps": len(times),
            "throughput_per_s": rows / median}


def latency(module: torch.nn.Module, inputs: tuple, batch_size: int, threads: int = 1,
            min_reps: int = 30, min_seconds: float = 0.5, warmup: int = 5) -> dict[str, Any]:
    """Forward-call latency (ms) and throughput (rows/s) at `batch_size` rows and `threads`
    torch threads (see _timed). `inputs` is a split's tensors, rows on dim 0 (a Ragged first
    item is padded per batch, as modules.batching.take does); a batch larger than the split is
    cut to the split, and "batch" says how many rows were timed."""
    rows = min(batch_size, len(inputs[0]))
    with _threads(threads), _evaluating(module):
        return _timed(lambda b: _call_seconds(module, b), _batches(inputs, batch_size), rows,
                      min_reps, min_seconds, warmup)


def onnx_latency(model: OnnxModel, inputs: tuple, batch_size: int, min_reps: int = 30,
                 min_seconds: float = 0.5, warmup: int = 5) -> dict[str, Any]:
    """The same measurement of an ONNX Runtime session on the same batches, as numpy."""
    def call(batch: tuple) -> float:
        start = time.perf_counter()
        model.run(*batch)
        return time.perf_counter() - start

    numpy = (tuple(t.numpy() for t in b) for b in _batches(inputs, batch_size))
    return _timed(call, numpy, min(batch_size, len(inputs[0])), min_reps, min_seconds, warmup)


def onnx_cost(module: torch.nn.Module, inputs: tuple, threads: int, large_batch: int,
              reps: int, warmup: int) -> dict[str, Any]:
    """ONNX Runtime's latency p50/p95 at batch 1 and throughput at `large_batch`, of the
    module exported and checked for parity on `inputs` (Row's onnx_* fields); nothing when
    onnxruntime is not installed, a note when no exporter passes parity."""
    if importlib.util.find_spec("onnxruntime") is None:
        return {}
    from modules.export import export_checked

    try:
        blob, exporter, _, _ = export_checked(module, inputs, "holdout test split")
    except RuntimeError as exc:
        return {"onnx_note": f"not exported: {str(exc)[:300]}"}
    model = OnnxModel(blob, threads)
    one = onnx_latency(model, inputs, 1)
    many = onnx_latency(model, inputs, large_batch, min_reps=reps, warmup=warmup)
    return {"onnx_exporter": exporter, "onnx_latency_ms": one["p50_ms"],
            "onnx_latency_p95_ms": one["p95_ms"], "onnx_throughput_per_s": many["throughput_per_s"]}
