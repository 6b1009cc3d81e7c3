"""model.onnx from a trained module, kept only when ONNX Runtime computes what PyTorch
computes on the run's holdout test inputs. The TorchScript-based exporter is tried first
(fast, and exact for the recurrent cells); the dynamo-based one when it fails."""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from torch import nn

from modules.batching import Ragged, Windows, subset
from modules.inference import predict
from modules.lit import ClassifyModule, SequenceModule
from modules.onnx_engine import BATCH, OnnxModel
from schemas.serving import Exporter, ExportTry, Parity

TOLERANCE = 1e-4  # max |ONNX Runtime - PyTorch| on scaled outputs or logits
EXPORTERS: tuple[Exporter, ...] = ("torchscript", "dynamo")
OPSET = 18


class Traced(nn.Module):
    """What the file computes: (B, L, F) -> (B, H) forecasts, or (B, T, F), (B,) -> (B, C)
    logits over any padding (ClassifyModule.logits, without the trim to the longest)."""

    def __init__(self, module: SequenceModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            return self.module(x)  # (B, H)
        return self.module.logits(x, lengths)  # (B, C)


def example(inputs: tuple) -> tuple[torch.Tensor, ...]:
    """A small traced batch: three windows, or the longest, a middle and the shortest
    sequence padded (so a bidirectional net traces its packed path)."""
    first = inputs[0]
    if isinstance(first, Windows):
        return (first[torch.arange(min(3, len(first)))],)
    order = torch.argsort(first.lengths, descending=True, stable=True)
    return first.pad(order[torch.tensor([0, len(order) // 2, len(order) - 1])])


def onnx_bytes(module: SequenceModule, inputs: tuple, exporter: Exporter) -> bytes:
    """The module as ONNX, batch (and, to classify, steps) dynamic."""
    classify = isinstance(module, ClassifyModule)
    names = ["x", "lengths"] if classify else ["x"]
    output = "logits" if classify else "forecast"
    wrapper, args = Traced(module).eval(), example(inputs)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), \
            redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        path = Path(tmp) / "model.onnx"
        if exporter == "torchscript":
            axes = {"x": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}} if classify \
                else {"x": {0: "batch"}}
            torch.onnx.export(wrapper, args, str(path), input_names=names, output_names=[output],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        else:
            batch, steps = torch.export.Dim("batch", min=1), torch.export.Dim("steps", min=2)
            shapes = ({0: batch, 1: steps}, {0: batch}) if classify else ({0: batch},)
            program = torch.onnx.export(wrapper, args, input_names=names, output_names=[output],
                                        dynamic_shapes=shapes, opset_version=OPSET, dynamo=True,
                                        verbose=False)
            program.save(str(path))
        module.eval()  # export restores the wrapper's training flag on every child
        return path.read_bytes()


def numpy_outputs(model: OnnxModel, inputs: tuple, batch: int = BATCH) -> np.ndarray:
    """ONNX Runtime's outputs for a split's inputs, on the batches PyTorch's predict cuts."""
    first = inputs[0]
    if isinstance(first, Ragged):
        return model.classify(first.rows.numpy(), first.lengths.numpy(), batch)
    x = first[torch.arange(len(first))].numpy() if isinstance(first, Windows) else first.numpy()
    return model.forecast(x, batch)


def alone(inputs: tuple) -> list[int]:
    """Items also run one at a time (batch 1, the latency path): the first, and to classify
    the shortest and a middle length, so the file is run at other lengths than its trace."""
    first = inputs[0]
    if not isinstance(first, Ragged):
        return [0]
    order = torch.argsort(first.lengths, stable=True).tolist()
    return sorted({0, order[0], order[len(order) // 2]})


def parity(blob: bytes, want: np.ndarray, inputs: tuple, source: str) -> Parity:
    """ONNX Runtime against PyTorch's `want` on every item, batched and one at a time."""
    model = OnnxModel(blob)
    got = numpy_outputs(model, inputs)
    diffs = [float(np.abs(got - want).max())]
    for i in alone(inputs):
        one = numpy_outputs(model, subset(inputs, torch.tensor([i])), batch=1)
        diffs.append(float(np.abs(one - want[i : i + 1]).max()))
    same = bool((got.argmax(1) == want.argmax(1)).all()) \
        if isinstance(inputs[0], Ragged) else None
    return Parity(items=len(want), max_abs_diff=max(diffs), tolerance=TOLERANCE,
                  same_class=same, inputs=source)


def export_checked(module: SequenceModule, inputs: tuple, source: str
                   ) -> tuple[bytes, Exporter, Parity, list[ExportTry]]:
    """The first exporter whose file passes parity, with every attempt; RuntimeError (with
    each attempt's outcome) when none does."""
    want, tried = predict(module.eval(), inputs), []
    for exporter in EXPORTERS:
        try:
            blob = onnx_bytes(module, inputs, exporter)
            check = parity(blob, want, inputs, source)
        except Exception as exc:  # an exporter's failure is an outcome, not the end
            tried.append(ExportTry(exporter=exporter, error=f"{type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:300] if str(exc) else ''}"))
            continue
        tried.append(ExportTry(exporter=exporter, max_abs_diff=check.max_abs_diff))
        if check.passed:
            return blob, exporter, check, tried
    raise RuntimeError("; ".join(describe(t) for t in tried))


def describe(t: ExportTry) -> str:
    """One attempt in words."""
    if t.max_abs_diff is None:
        return f"{t.exporter}: {t.error}"
    return f"{t.exporter}: max |ONNX Runtime - PyTorch| {t.max_abs_diff:.3g} > {TOLERANCE:g}"
