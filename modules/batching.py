"""Variable-length sequences stored without padding, and the batches cut from them.

A classification split is one (sum of lengths, F) block of rows plus each sequence's length.
A batch is padded only to its own longest sequence, and holds at most MAX_BATCH_CELLS
(sequences x steps^2), so the Transformer's attention memory follows the data: measured on
the default Transformer (4 heads, 2 layers), a training step needs about 120 bytes per
(sequence x step^2) cell, so 32 x 1024^2 cells is about 4 GB. Batches of sequences up to 1024
steps keep the full train.batch_size (32); at 4096 steps (classify.max_length) a batch holds 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from modules.arrays import fitting
from modules.arrays import sorted_batches as sorted_order

BUCKET_BATCHES = 4  # a length bucket holds this many batches' worth of sequences


@dataclass(frozen=True)
class Ragged:
    """Sequences as concatenated rows (sum of lengths, F) and their lengths (N,)."""

    rows: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def from_numpy(cls, rows: np.ndarray, lengths: np.ndarray) -> Ragged:
        """Wrap arrays as stored in arrays.npz (no copy)."""
        return cls(torch.from_numpy(rows), torch.from_numpy(lengths.astype(np.int64)))

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> torch.Tensor:
        """Where each sequence's rows start, (N,)."""
        return torch.cumsum(self.lengths, 0) - self.lengths

    def parts(self, idx: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The rows of each sequence `idx`, (n_i, F) each, and their lengths (B,)."""
        starts, lengths = self.offsets[idx].tolist(), self.lengths[idx]
        rows = [self.rows[s : s + n] for s, n in zip(starts, lengths.tolist(), strict=True)]
        return rows, lengths

    def pad(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sequences `idx` right-padded with zeros to the longest of them: (B, T, F), (B,)."""
        parts, lengths = self.parts(idx)
        return pad_sequence(parts, batch_first=True), lengths


@dataclass(frozen=True)
class Windows:
    """Forecast input windows cut by index from the series rows, never stored one by one:
    window i is rows[starts[i] : starts[i] + lookback], (lookback, F)."""

    rows: torch.Tensor  # (R, F), every series' scaled rows, one after another
    starts: torch.Tensor  # (N,)
    lookback: int

    @classmethod
    def from_numpy(cls, rows: np.ndarray, starts: np.ndarray, lookback: int) -> Windows:
        """Wrap arrays as stored in arrays.npz (no copy)."""
        return cls(torch.from_numpy(rows), torch.from_numpy(starts.astype(np.int64)), lookback)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: torch.Tensor | slice) -> torch.Tensor:
        """The windows `idx` (an index tensor or a slice), (B, lookback, F)."""
        first = self.starts[idx]  # (B,)
        steps = torch.arange(self.lookback, device=first.device)  # (L,)
        return self.rows[first[:, None] + steps]  # (B, L, F)


def take(inputs: tuple, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The rows `idx` of a split's tensors; a Ragged first item becomes (x padded, lengths)."""
    if isinstance(inputs[0], Ragged):
        return (*inputs[0].pad(idx), *(t[idx] for t in inputs[1:]))
    return tuple(t[idx] for t in inputs)


def subset(inputs: tuple, idx: torch.Tensor) -> tuple:
    """The items `idx` of a split's tensors, kept as they are stored (Windows, Ragged)."""
    first, rest = inputs[0], tuple(t[idx] for t in inputs[1:])
    if isinstance(first, Windows):
        return (Windows(first.rows, first.starts[idx], first.lookback), *rest)
    if isinstance(first, Ragged):
        parts, lengths = first.parts(idx)
        return (Ragged(torch.cat(parts), lengths), *rest)
    return (first[idx], *rest)


def sorted_batches(lengths: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Evaluation batches: sequences by ascending length, each batch under the cell budget."""
    return [torch.from_numpy(b) for b in sorted_order(lengths.numpy(), batch_size)]


def length_buckets(lengths: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, int]]:
    """Fixed buckets of sequences of similar length (the length-sorted order cut into chunks
    of BUCKET_BATCHES x batch_size), each with the batch size that fits its longest."""
    chunks = torch.argsort(lengths, stable=True).split(BUCKET_BATCHES * batch_size)
    return [(c, fitting(batch_size, int(lengths[c].max()))) for c in chunks]


def bucket_batches(lengths: torch.Tensor, batch_size: int,
                   generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's training batches: each bucket shuffled and cut into batches, then the
    batches shuffled. The number of batches is the same every epoch."""
    batches = [part for bucket, size in length_buckets(lengths, batch_size)
               for part in bucket[torch.randperm(len(bucket), generator=generator)].split(size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def count_bucket_batches(lengths: torch.Tensor, batch_size: int) -> int:
    """How many batches bucket_batches yields per epoch."""
    return sum(-(-len(bucket) // size) for bucket, size in length_buckets(lengths, batch_size))


@torch.no_grad()
def predict_ragged(module: torch.nn.Module, seqs: Ragged, batch: int) -> torch.Tensor:
    """Outputs for every sequence, batched by length, returned in the original order."""
    batches = sorted_batches(seqs.lengths, batch)
    out = torch.cat([module(*seqs.pad(idx)) for idx in batches])
    return out[torch.argsort(torch.cat(batches))]
