"""Sequence backbones: (B, T, F) inputs -> (B, T, D) hidden states, and their registry.
Each takes the input width, its spec, whether it must be causal (forecasting), and the input
length when it is fixed (the forecast lookback; None when classifying)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from schemas.specs import CnnSpec, HybridSpec, LinearSpec, RecurrentSpec, Spec, TransformerSpec


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

    def __init__(self, n_features: int, spec: RecurrentSpec, causal: bool = True,
                 steps: int | None = None) -> None:
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

    def __init__(self, n_features: int, spec: HybridSpec, causal: bool = True,
                 steps: int | None = None) -> None:
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

    def __init__(self, n_features: int, spec: TransformerSpec, causal: bool = True,
                 steps: int | None = None) -> None:
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


class ConvBlock(nn.Module):
    """Convolutions of several odd widths side by side, batch norm, ReLU, dropout, plus a
    shortcut. Padding steps are zero on the way in and out, so they add nothing a
    sequence alone would not see (batch norm's statistics are a batch's, as always)."""

    def __init__(self, n_in: int, spec: CnnSpec, dilation: int, causal: bool) -> None:
        super().__init__()
        each = spec.channels // len(spec.kernels)
        self.out_dim = each * len(spec.kernels)
        self.convs = nn.ModuleList(nn.Conv1d(n_in, each, k, dilation=dilation, bias=False)
                                   for k in spec.kernels)
        self.reach = [(k - 1) * dilation for k in spec.kernels]  # steps each conv spans
        self.norm, self.drop = nn.BatchNorm1d(self.out_dim), nn.Dropout(spec.dropout)
        self.skip = nn.Identity() if n_in == self.out_dim else nn.Conv1d(n_in, self.out_dim, 1)
        self.causal = causal

    def _padded(self, x: torch.Tensor, reach: int) -> torch.Tensor:
        """Causal: all `reach` zeros on the left; else centred."""
        left = reach if self.causal else reach // 2
        return F.pad(x, (left, reach - left))  # (B, C, T + reach)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, D, T); `keep` (B, 1, T) is 0 at padding steps."""
        h = torch.cat([conv(self._padded(x, r)) for conv, r in zip(self.convs, self.reach,
                                                                   strict=True)], dim=1)
        h = self.drop(torch.relu(self.norm(h)))  # (B, D, T)
        return (h + self.skip(x)) * keep  # (B, D, T)


class ConvBackbone(nn.Module):
    """Residual 1-D convolutional blocks, dilation doubling block by block; causal (each
    step sees only itself and earlier steps) when it forecasts."""

    def __init__(self, n_features: int, spec: CnnSpec, causal: bool = True,
                 steps: int | None = None) -> None:
        super().__init__()
        blocks, n_in = [], n_features
        for i in range(spec.blocks):
            blocks.append(ConvBlock(n_in, spec, 2**i, causal))
            n_in = blocks[-1].out_dim
        self.blocks, self.out_dim = nn.ModuleList(blocks), n_in

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """`pad` (B, T) is True at padding positions, zeroed before and after every block."""
        keep = x.new_ones(x.shape[0], 1, x.shape[1]) if pad is None \
            else (~pad)[:, None].to(x.dtype)  # (B, 1, T)
        h = x.transpose(1, 2) * keep  # (B, F, T)
        for block in self.blocks:
            h = block(h, keep)  # (B, D, T)
        return h.transpose(1, 2)  # (B, T, D)


def moving_average(x: torch.Tensor, width: int) -> torch.Tensor:
    """Centred moving average over time, the edges repeated (DLinear's trend): (B, L, F)."""
    half = width // 2
    padded = torch.cat([x[:, :1].expand(-1, half, -1), x, x[:, -1:].expand(-1, half, -1)], 1)
    return F.avg_pool1d(padded.transpose(1, 2), width, stride=1).transpose(1, 2)  # (B, L, F)


class LinearBackbone(nn.Module):
    """Forecast: each window's trend (moving average) and remainder, flattened as one step
    that the linear head maps to the horizon (DLinear). Classify: the inputs themselves, so
    the head is a linear map of the last step, mean and max over real steps."""

    def __init__(self, n_features: int, spec: LinearSpec, causal: bool = True,
                 steps: int | None = None) -> None:
        super().__init__()
        if causal and steps is None:
            raise ValueError("the linear forecaster needs the lookback (steps)")
        self.width, self.steps = spec.moving_average, steps if causal else None
        self.out_dim = 2 * steps * n_features if self.steps else n_features

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, F) -> (B, 1, 2LF) when forecasting; (B, T, F) unchanged when classifying."""
        if self.steps is None:
            return x  # (B, T, F)
        trend = moving_average(x, self.width)  # (B, L, F)
        return torch.cat([trend, x - trend], dim=1).flatten(1)[:, None]  # (B, 1, 2LF)


# arch name -> backbone class; a new architecture is one class, one entry here, one spec
BACKBONES: dict[str, type[nn.Module]] = {
    "rnn": RecurrentBackbone,
    "lstm": RecurrentBackbone,
    "gru": RecurrentBackbone,
    "hybrid": HybridBackbone,
    "transformer": TransformerBackbone,
    "cnn": ConvBackbone,
    "linear": LinearBackbone,
}


def build_backbone(spec: Spec, n_features: int, causal: bool, steps: int | None = None
                   ) -> nn.Module:
    """Instantiate the backbone registered for `spec.arch`."""
    return BACKBONES[spec.arch](n_features, spec, causal, steps)  # type: ignore[attr-defined]
