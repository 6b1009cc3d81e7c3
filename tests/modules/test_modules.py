"""Every backbone x both tasks: shapes, learning, and padding that cannot leak."""

import pytest
import torch
from pydantic import TypeAdapter

from modules.backbones import BACKBONES
from modules.lit import build_module
from schemas.specs import ModelSpec
from tests.helpers import TINY_MODELS

TINY = {"hybrid": {"hidden": 8}, **TINY_MODELS}
SPECS = {name: TypeAdapter(ModelSpec).validate_python({"arch": name, **kw})
         for name, kw in TINY.items()}


def test_registry_covers_every_spec() -> None:
    assert set(BACKBONES) == set(SPECS)


def _batch(task: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 12, 3, generator=g)
    if task == "forecast":
        return x, x[:, -4:, 0] * 0.5 + 1.0  # target depends on the inputs
    lengths = torch.randint(4, 13, (16,), generator=g)
    y = (x[:, 0, 0] > 0).long()
    return x, lengths, y


@pytest.mark.parametrize("task", ["forecast", "classify"])
@pytest.mark.parametrize("arch", sorted(SPECS))
def test_shapes_and_a_few_steps_lower_the_loss(arch: str, task: str) -> None:
    torch.manual_seed(0)
    module = build_module(task, SPECS[arch], n_features=3, n_out=4 if task == "forecast" else 2,
                          lr=1e-2)
    batch = _batch(task)
    out = module(*batch[:-1])
    assert out.shape == (16, 4) if task == "forecast" else (16, 2)
    opt = torch.optim.AdamW(module.parameters(), lr=module.lr)  # a plain loop: no schedule
    module.train()
    first = module.loss(batch).item()
    for _ in range(5):
        opt.zero_grad()
        module.loss(batch).backward()
        opt.step()
    assert module.loss(batch).item() < first


@pytest.mark.parametrize("arch", sorted(SPECS))
def test_padding_values_do_not_change_a_classification(arch: str) -> None:
    torch.manual_seed(0)
    module = build_module("classify", SPECS[arch], n_features=3, n_out=2).eval()
    x, lengths, _ = _batch("classify")
    noisy = x.clone()
    for i, n in enumerate(lengths.tolist()):
        noisy[i, n:] = 100.0  # garbage after each sequence's end
    with torch.no_grad():
        torch.testing.assert_close(module(x, lengths), module(noisy, lengths))


def test_forecast_transformer_is_causal() -> None:
    torch.manual_seed(0)
    backbone = build_module("forecast", SPECS["transformer"], 3, 4).eval().backbone
    x = torch.randn(2, 10, 3)
    later = x.clone()
    later[:, 6:] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[:, :6], backbone(later)[:, :6])


@pytest.mark.parametrize("arch", sorted(SPECS))
def test_a_prediction_does_not_depend_on_its_batch(arch: str) -> None:
    from modules.batching import Ragged
    from modules.inference import predict

    torch.manual_seed(0)
    module = build_module("classify", SPECS[arch], n_features=3, n_out=2).eval()
    lengths = torch.tensor([5, 40, 3, 12, 40, 7, 1, 25, 9, 2])
    seqs = Ragged(torch.randn(int(lengths.sum()), 3), lengths)
    alone = torch.cat([module(*seqs.pad(torch.tensor([i]))) for i in range(len(seqs))])
    for batch in (1, 2, 3, 512):  # other neighbours, other padding, same outputs and order
        torch.testing.assert_close(torch.from_numpy(predict(module, (seqs,), batch)), alone)
