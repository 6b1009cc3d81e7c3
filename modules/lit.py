"""One LightningModule per task over the shared backbones."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.lr_scheduler import LinearLR

from modules.backbones import build_backbone
from schemas.prepared import ForecastState, PreparedState
from schemas.specs import Spec

WARMUP_START = 0.1  # the warm-up starts at this share of lr
STEM_EVERY, STEM_MAX = 100, 16  # auto stem: stride = longest sequence // 100, at most 16


class SequenceModule(pl.LightningModule):
    """Shared optimiser and train/validation steps; subclasses define `loss`."""

    def __init__(self, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_steps = 0  # set by the training stage from its budget

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        return self.loss(batch)  # the learning curve's train loss is kept by BestWeights

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        self.log("val_loss", self.loss(batch), on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with a linear warm-up to `lr` over `warmup_steps` (stepped every batch); the
        training stage's PlateauLR callback then halves the rate when validation stalls."""
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if not self.warmup_steps:
            return {"optimizer": opt}
        warmup = LinearLR(opt, start_factor=WARMUP_START, total_iters=self.warmup_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


class ForecastModule(SequenceModule):
    """Direct multi-horizon forecast from the last hidden state: (B, L, F) -> (B, H). With
    instance_norm, each window's target channel is scaled by that window's own mean and std
    (RevIN), and the forecast is scaled back; covariates keep their train-fitted scaling."""

    EPS = 1e-5  # floor of a window's std: a flat window becomes zeros, not NaN

    def __init__(self, spec: Spec, n_features: int, horizon: int, lr: float = 1e-3,
                 weight_decay: float = 0.0, instance_norm: bool = True,
                 target_index: int = 0, lookback: int | None = None) -> None:
        super().__init__(lr, weight_decay)
        self.backbone = build_backbone(spec, n_features, causal=True, steps=lookback)
        self.head = nn.Linear(self.backbone.out_dim, horizon)
        self.instance_norm, self.target_index = instance_norm, target_index

    def window_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each window's target mean and floored std, (B, 1) each; (0, 1) when switched off."""
        if not self.instance_norm:
            return x.new_zeros(len(x), 1), x.new_ones(len(x), 1)
        std, mean = torch.std_mean(x[..., self.target_index], dim=1, keepdim=True, correction=0)
        return mean, std.clamp_min(self.EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.window_stats(x)  # (B, 1)
        z = x.clone()  # (B, L, F)
        z[..., self.target_index] = (x[..., self.target_index] - mean) / std
        h = self.backbone(z)  # (B, L, D)
        return self.head(h[:, -1]) * std + mean  # (B, H)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self(x), y)


def pooled(h: torch.Tensor, pad: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """The last real step's state with the mean and max over real steps: (B, 3D)."""
    real = (~pad).sum(1, keepdim=True)  # (B, 1)
    mean = h.masked_fill(pad[..., None], 0.0).sum(1) / real  # (B, D)
    peak = h.masked_fill(pad[..., None], -torch.inf).amax(1)  # (B, D)
    return torch.cat([last, mean, peak], dim=-1)  # (B, 3D)


def auto_stem(longest: int) -> int:
    """The stem's stride for sequences of up to `longest` steps: one step per 100, none
    below 2, at most STEM_MAX."""
    stride = min(longest // STEM_EVERY, STEM_MAX)
    return stride if stride >= 2 else 0


class Stem(nn.Module):
    """Strided convolution: step j of the output reads input steps [j*s, j*s + 2s). Steps past
    a sequence's end read as zeros, batched or alone, so padding never changes an output."""

    WIDTH = 32

    def __init__(self, n_features: int, stride: int) -> None:
        super().__init__()
        self.stride, self.kernel = stride, 2 * stride
        self.conv = nn.Conv1d(n_features, self.WIDTH, self.kernel, stride)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F), (B,) -> (B, ceil(T / s), W), (B,) lengths ceil(L / s)."""
        pad = torch.arange(x.shape[1], device=x.device)[None] >= lengths[:, None]  # (B, T)
        x = F.pad(x.masked_fill(pad[..., None], 0.0), (0, 0, 0, self.kernel - 1))  # (B, T+k-1, F)
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, ceil(T / s), W)
        return h, (lengths + self.stride - 1) // self.stride  # (B, T', W), (B,)


class ClassifyModule(SequenceModule):
    """Class logits from the state at each sequence's last real step, and with `pool` also
    the mean and max over its real steps: (B, T, F) -> (B, C). Padding is never read."""

    def __init__(self, spec: Spec, n_features: int, n_classes: int, lr: float = 1e-3,
                 weight_decay: float = 0.0, pool: bool = True, stem: int = 0) -> None:
        super().__init__(lr, weight_decay)
        self.stem = Stem(n_features, stem) if stem else None
        n_in = Stem.WIDTH if stem else n_features
        self.backbone = build_backbone(spec, n_in, causal=False)
        self.pool = pool
        self.head = nn.Linear(self.backbone.out_dim * (3 if pool else 1), n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.logits(x[:, : int(lengths.max())], lengths)  # trimmed to the longest

    def logits(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, F), (B,) -> (B, C), whatever padding follows the longest sequence (the
        traceable path that ONNX export records)."""
        if self.stem is not None:
            x, lengths = self.stem(x, lengths)  # (B, T', W)
        pad = torch.arange(x.shape[1], device=x.device)[None] >= lengths[:, None]  # (B, T)
        h = self.backbone(x, pad)  # (B, T, D)
        at = (lengths - 1)[:, None, None].expand(-1, 1, h.shape[2])  # (B, 1, D)
        last = h.gather(1, at)[:, 0]  # (B, D), each sequence's last real step
        return self.head(pooled(h, pad, last) if self.pool else last)  # (B, C)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, lengths, y = batch
        return F.cross_entropy(self(x, lengths), y)


def build_module(task: str, spec: Spec, n_features: int, n_out: int,
                 lr: float = 1e-3, weight_decay: float = 0.0, lookback: int | None = None
                 ) -> SequenceModule:
    """The task's LightningModule as `spec` records it; `n_out` is the horizon or the number
    of classes; `lookback` the forecast's input steps (only the linear forecaster's size
    depends on it)."""
    if task == "forecast":
        return ForecastModule(spec, n_features, n_out, lr, weight_decay, spec.instance_norm,
                              lookback=lookback)
    return ClassifyModule(spec, n_features, n_out, lr, weight_decay, spec.pool, spec.stem or 0)


def module_for(spec: Spec, state: PreparedState, lr: float = 1e-3, weight_decay: float = 0.0
               ) -> SequenceModule:
    """The module `spec` builds for the data of this prepared state: its columns, its
    horizon or classes, its lookback; the spec's own lr and weight decay (set by tuning)
    win over `lr` and `weight_decay` (train.lr, train.weight_decay)."""
    lookback = state.lookback if isinstance(state, ForecastState) else None
    spec = spec.with_rates(lr, weight_decay)
    return build_module(state.task, spec, state.n_features, state.n_out, spec.lr,
                        spec.weight_decay, lookback)
