"""One LightningModule per task over the shared backbones."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from modules.backbones import build_backbone
from modules.specs import Spec


class SequenceModule(pl.LightningModule):
    """Shared optimiser and train/validation steps; subclasses define `loss`."""

    def __init__(self, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.lr, self.weight_decay = lr, weight_decay

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        self.log("val_loss", self.loss(batch), on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class ForecastModule(SequenceModule):
    """Direct multi-horizon forecast from the last hidden state: (B, L, F) -> (B, H)."""

    def __init__(self, spec: Spec, n_features: int, horizon: int,
                 lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.backbone = build_backbone(spec, n_features, causal=True)
        self.head = nn.Linear(self.backbone.out_dim, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.backbone(x)  # (B, L, D)
        return self.head(h[:, -1])  # (B, H)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self(x), y)


class ClassifyModule(SequenceModule):
    """Class logits from the state at each sequence's last real step: (B, T, F) -> (B, C)."""

    def __init__(self, spec: Spec, n_features: int, n_classes: int,
                 lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.backbone = build_backbone(spec, n_features, causal=False)
        self.head = nn.Linear(self.backbone.out_dim, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = x[:, : int(lengths.max())]  # (B, T, F), trimmed to the batch's longest
        pad = torch.arange(x.shape[1], device=x.device)[None] >= lengths[:, None]  # (B, T)
        h = self.backbone(x, pad)  # (B, T, D)
        last = h[torch.arange(len(x), device=x.device), lengths - 1]  # (B, D)
        return self.head(last)  # (B, C)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, lengths, y = batch
        return F.cross_entropy(self(x, lengths), y)


def build_module(task: str, spec: Spec, n_features: int, n_out: int,
                 lr: float = 1e-3, weight_decay: float = 0.0) -> SequenceModule:
    """The task's LightningModule; `n_out` is the horizon or the number of classes."""
    cls = ForecastModule if task == "forecast" else ClassifyModule
    return cls(spec, n_features, n_out, lr, weight_decay)
