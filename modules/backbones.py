"""Sequence backbones: (B, T, F) inputs -> (B, T, D) hidden states, and their registry."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from schemas.specs import HybridSpec, RecurrentSpec, Spec, TransformerSpec


def recurrent(cell: type[nn.RNNBase], n_in: int, hidden: int, layers: int, dropout: float,
              bidirectional: bool) -> nn.RNNBase:
    """A torch RNN stack, dropout between its layers (torch warns about it for one layer)."""
    return cell(n_in, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0,
                bidirectional=bidirectional)


def run_rnn(rnn: nn.RNNBase, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
    """Outputs over real steps only. A bidirectional batch with padding is packed, so the
    backward direction starts at each sequence's last real step (padding comes back as 0).
    Forward-only, padding after a sequence's end never reaches it, so the batch runs unpacked:
    packing makes a CPU epoch about 3x slower."""
    if pad is None or not rnn.bidirectional or not pad.any():
        return rnn(x)[0]  # (B, T, D)
    lengths = (~pad).sum(1).cpu()  # (B,)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])
    return h  # (B, T, D)


class RecurrentBackbone(nn.Module):
    """Stacked RNN, LSTM or GRU: one module for the three cells; bidirectional if not causal."""

    CELLS: ClassVar[dict[str, type[nn.RNNBase]]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, n_features: int, spec: RecurrentSpec, causal: bool = True) -> None:
        super().__init__()
        both = spec.bidirectional and not causal
        self.rnn = recurrent(self.CELLS[spec.arch], n_features, spec.hidden, spec.layers,
                             spec.dropout, both)
        self.out_dim = spec.hidden * (2 if both else 1)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """`pad` (B, T) is True at padding positions, which no real step then sees."""
        return run_rnn(self.rnn, x, pad)  # (B, T, D)


class HybridBackbone(nn.Module):
    """LSTM layers, then GRU layers on their outputs; bidirectional if not causal."""

    def __init__(self, n_features: int, spec: HybridSpec, causal: bool = True) -> None:
        super().__init__()
        both = spec.bidirectional and not causal
        self.out_dim = spec.hidden * (2 if both else 1)
        self.lstm = recurrent(nn.LSTM, n_features, spec.hidden, spec.lstm_layers, spec.dropout,
                              both)
        self.drop = nn.Dropout(spec.dropout)
        self.gru = recurrent(nn.GRU, self.out_dim, spec.hidden, spec.gru_layers, spec.dropout,
                             both)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """`pad` (B, T) is True at padding positions, which no real step then sees."""
        h = run_rnn(self.lstm, x, pad)  # (B, T, D)
        return run_rnn(self.gru, self.drop(h), pad)  # (B, T, D)


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
    "hybrid": HybridBackbone,
    "transformer": TransformerBackbone,
}


def build_backbone(spec: Spec, n_features: int, causal: bool) -> nn.Module:
    """Instantiate the backbone registered for `spec.arch`."""
    return BACKBONES[spec.arch](n_features, spec, causal)  # type: ignore[attr-defined]
