"""Unpadded sequences: batches from length buckets, padded only to their own longest."""

import torch

from modules.arrays import MAX_BATCH_CELLS, fitting
from modules.batching import Ragged, sorted_batches
from modules.training import TensorBatches


def _split(lengths: list[int]) -> tuple[Ragged, torch.Tensor]:
    n = torch.tensor(lengths)
    rows = torch.arange(int(n.sum()), dtype=torch.float32)[:, None]  # row value = its index
    return Ragged(rows, n), torch.arange(len(lengths))


def test_pad_keeps_each_sequence_and_pads_to_the_longest() -> None:
    seqs, _ = _split([3, 1, 2])
    x, lengths = seqs.pad(torch.tensor([2, 0]))
    assert x.shape == (2, 3, 1) and lengths.tolist() == [2, 3]
    assert x[:, :, 0].tolist() == [[4.0, 5.0, 0.0], [0.0, 1.0, 2.0]]


def test_training_buckets_cover_every_sequence_once_with_little_padding() -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(40, 121, (600,), generator=g).tolist()
    seqs, ids = _split(lengths)
    batches = TensorBatches((seqs, ids), 32, shuffle=True, seed=0)
    epochs = [list(batches) for _ in range(2)]
    for epoch in epochs:
        assert len(epoch) == len(batches)
        seen = torch.cat([y for _, _, y in epoch])
        assert sorted(seen.tolist()) == list(range(600))
        assert all(x.shape[1] == int(n.max()) for x, n, _ in epoch)
        padded = sum(x.shape[0] * x.shape[1] for x, _, _ in epoch)
        assert padded < 1.15 * sum(lengths)  # random batches of 40-120 steps pad ~50%
    assert [y.tolist() for *_, y in epochs[0]] != [y.tolist() for *_, y in epochs[1]]
    again = [y.tolist() for *_, y in TensorBatches((seqs, ids), 32, shuffle=True, seed=0)]
    assert again == [y.tolist() for *_, y in epochs[0]]  # seeded


def test_long_sequences_come_in_smaller_batches() -> None:
    assert fitting(32, 100) == 32 and fitting(32, 1024) == 32
    assert fitting(32, 4096) == 2 and fitting(32, 100_000) == 1
    lengths = torch.tensor([4096] * 5 + [50] * 40)
    batches = sorted_batches(lengths, 32)
    assert sorted(torch.cat(batches).tolist()) == list(range(45))
    assert all(len(b) * int(lengths[b].max()) ** 2 <= MAX_BATCH_CELLS or len(b) == 1
               for b in batches)
    seqs, ids = _split(lengths.tolist())
    for x, *_ in TensorBatches((seqs, ids), 32, shuffle=True):
        assert x.shape[0] * x.shape[1] ** 2 <= MAX_BATCH_CELLS
