"""onnx.json: how a model.onnx was made, and the parity with PyTorch proven when it was."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.config import Task
from schemas.prepared import Artifact

Exporter = Literal["torchscript", "dynamo"]


class ExportTry(BaseModel):
    """One exporter's attempt: the largest difference it reached, or why it failed."""

    model_config = ConfigDict(extra="forbid")

    exporter: Exporter
    max_abs_diff: float | None = None  # None: the export or its run failed
    error: str = Field("", max_length=2000)


class Parity(BaseModel):
    """ONNX Runtime against PyTorch on the same inputs: scaled outputs (forecasts) or logits."""

    model_config = ConfigDict(extra="forbid")

    items: int = Field(ge=1)
    max_abs_diff: float = Field(ge=0)
    tolerance: float = Field(gt=0)
    same_class: bool | None = None  # classify: the same predicted class for every item
    inputs: str = Field("", max_length=2000)  # where the inputs came from

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.same_class is not False


class OnnxCard(Artifact):
    """onnx.json, written after model.onnx: the file's hash, the exporter, the parity check."""

    model: str = Field(max_length=200)
    task: Task
    exporter: Exporter
    opset: int = Field(ge=7, le=100)
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: list[str] = Field(max_length=2)  # x (B, T, F) float32 [, lengths (B,) int64]
    output: str = Field(max_length=50)  # forecast (B, H) scaled | logits (B, C)
    parity: Parity
    tried: list[ExportTry] = Field(default_factory=list, max_length=4)
    torch: str = Field("", max_length=100)
    onnxruntime: str = Field("", max_length=100)
