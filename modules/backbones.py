"""Sequence backbones: (B, T, F) inputs -> (B, T, D) hidden states, and their registry."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from modules.specs import RecurrentSpec, Spec, TransformerSpec


class RecurrentBackbone(nn.Module):
    """Stacked RNN, LSTM or GRU: one module for the three cells."""

    CELLS: ClassVar[dict[str, type[nn.RNNBase]]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, n_features: int, spec: RecurrentSpec, causal: bool = True) -> None:
        super().__init__()
        dropout = spec.dropout if spec.layers > 1 else 0.0
        self.rnn = self.CELLS[spec.arch](n_features, spec.hidden, spec.layers,
                                         batch_first=True, dropout=dropout)
        self.out_dim = spec.hidden

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """Recurrences are causal, so padding after a sequence's end never reaches it."""
        h, _ = self.rnn(x)  # (B, T, D)
        return h


def sinusoids(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed sinusoidal positional encoding, (T, D)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class TransformerBackbone(nn.Module):
    """Pre-norm Transformer encoder; causal self-attention when it forecasts."""

    def __init__(self, n_features: int, spec: TransformerSpec, causal: bool = True) -> None:
        super().__init__()
        self.proj = nn.Linear(n_features, spec.d_model)
        layer = nn.TransformerEncoderLayer(spec.d_model, spec.heads, spec.ff, spec.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, spec.layers, norm=nn.LayerNorm(spec.d_model),
                                             enable_nested_tensor=False)
        self.causal, self.out_dim = causal, spec.d_model

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """`pad` (B, T) is True at padding positions, which attention then ignores."""
        t = x.shape[1]
        h = self.proj(x) + sinusoids(t, self.out_dim, x.device)  # (B, T, D)
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=x.device) \
            if self.causal else None
        return self.encoder(h, mask=mask, src_key_padding_mask=pad, is_causal=self.causal)


# arch name -> backbone class; a new architecture is one class, one entry here, one spec
BACKBONES: dict[str, type[nn.Module]] = {
    "rnn": RecurrentBackbone,
    "lstm": RecurrentBackbone,
    "gru": RecurrentBackbone,
    "transformer": TransformerBackbone,
}


def build_backbone(spec: Spec, n_features: int, causal: bool) -> nn.Module:
    """Instantiate the backbone registered for `spec.arch`."""
    return BACKBONES[spec.arch](n_features, spec, causal)  # type: ignore[attr-defined]
