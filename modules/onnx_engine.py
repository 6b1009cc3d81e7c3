"""A model.onnx run by ONNX Runtime alone (no torch import on this path), on the batches
the PyTorch path cuts (modules/arrays.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

import numpy as np

from modules.arrays import padded, sorted_batches
from modules.folder_checks import check_card, check_preprocessing, refuse, validated
from schemas.artifacts import ModelCard
from schemas.errors import UsageError
from schemas.layout import ONNX, ONNX_CARD, WEIGHTS
from schemas.prepared import PreparedState
from schemas.serving import OnnxCard

BATCH = 512  # items per run, as modules/inference.predict
INSTALL = 'pip install -c constraints.txt -e ".[onnx]"'


def sha256(data: bytes) -> str:
    """The SHA-256 of `data`, hex: how onnx.json names model.onnx and the weights."""
    return hashlib.sha256(data).hexdigest()


def runtime() -> ModuleType:
    """onnxruntime, or a message saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise UsageError(f"ONNX Runtime is not installed; install the extra: {INSTALL}") from None
    return onnxruntime


class OnnxModel:
    """One ONNX Runtime session on the CPU; `threads` intra-op threads (1, as training)."""

    def __init__(self, model: bytes | Path, threads: int = 1) -> None:
        ort = runtime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.log_severity_level = 4  # fatal only: a failed run raises its own error
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def run(self, *arrays: np.ndarray) -> np.ndarray:
        """One call: the model's inputs in order -> its output."""
        return self.session.run(None, dict(zip(self.names, arrays, strict=True)))[0]

    def forecast(self, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """(N, L, F) windows -> (N, H) scaled forecasts."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate([self.run(x[i : i + batch]) for i in range(0, len(x), batch)])

    def classify(self, rows: np.ndarray, lengths: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """Sequences (concatenated rows (R, F), lengths (N,)) -> (N, C) logits, in order."""
        rows, lengths = rows.astype(np.float32), lengths.astype(np.int64)
        batches = sorted_batches(lengths, batch)
        out = np.concatenate([self.run(padded(rows, lengths, idx), lengths[idx])
                              for idx in batches])
        return out[np.argsort(np.concatenate(batches))]


def load_onnx(model_dir: Path) -> tuple[OnnxModel, ModelCard, PreparedState]:
    """An exported folder: model.json and preprocessing.json checked as for PyTorch, onnx.json
    valid, model.onnx the file it hashes and, when the weights are beside it, made from them."""
    meta = check_card(model_dir)
    state = check_preprocessing(model_dir, meta)
    card = validated(OnnxCard, model_dir / ONNX_CARD)
    blob = (model_dir / ONNX).read_bytes()
    again = f"export it again: seqarena export --model {model_dir}"
    if sha256(blob) != card.onnx_sha256:
        raise refuse(model_dir / ONNX, [f"not the file {ONNX_CARD} describes; {again}"])
    weights = model_dir / WEIGHTS
    made = sha256(weights.read_bytes()) if weights.is_file() else None
    if made and made != card.weights_sha256:
        raise refuse(model_dir / ONNX, [f"exported from other weights than {WEIGHTS}; {again}"])
    if card.task != meta.task:
        raise refuse(model_dir / ONNX_CARD, [f"task '{card.task}', but '{meta.task}' in "
                                             "model.json"])
    try:
        return OnnxModel(blob), meta, state
    except Exception as exc:  # onnxruntime's own errors: a damaged graph
        raise refuse(model_dir / ONNX, [f"ONNX Runtime cannot load it ({exc})"]) from None
