"""Every backbone x both tasks: shapes, learning, and padding that cannot leak."""

import pytest
import torch
from pydantic import TypeAdapter

from modules.backbones import BACKBONES
from modules.lit import build_module
from schemas.specs import ModelSpec
from tests.helpers import TINY_MODELS

TINY = {"hybrid": {"hidden": 8}, **TINY_MODELS, "cnn": {"channels": 6, "blocks": 2},
        "linear": {"moving_average": 5}}
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
                          lr=1e-2, lookback=12)
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


@pytest.mark.parametrize("arch", ["transformer", "cnn"])
def test_forecast_backbones_over_time_are_causal(arch: str) -> None:
    """A step's state reads no later step (the recurrent nets are causal by construction)."""
    torch.manual_seed(0)
    backbone = build_module("forecast", SPECS[arch], 3, 4).eval().backbone
    x = torch.randn(2, 10, 3)
    later = x.clone()
    later[:, 6:] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[:, :6], backbone(later)[:, :6])
        assert not torch.allclose(backbone(x)[:, 6:], backbone(later)[:, 6:])


def test_the_linear_forecaster_is_dlinear() -> None:
    """Its head maps the window's moving-average trend and remainder to the horizon: with
    the remainder's weights equal to the trend's, the forecast is one linear map of x."""
    from modules.backbones import moving_average

    torch.manual_seed(0)
    module = build_module("forecast", SPECS["linear"], 1, 4, lookback=12).eval()
    module.instance_norm = False
    x = torch.randn(3, 12, 1)
    h = module.backbone(x)  # (B, 1, 2L)
    trend = moving_average(x, 5)
    torch.testing.assert_close(h[:, 0, :12], trend[..., 0])
    torch.testing.assert_close(h[:, 0, 12:], (x - trend)[..., 0])
    torch.testing.assert_close(trend[:, 2, 0], x[:, :5, 0].mean(1))  # centred, width 5
    torch.testing.assert_close(trend[:, 0, 0], (3 * x[:, 0, 0] + x[:, 1, 0] + x[:, 2, 0]) / 5)
    with torch.no_grad():
        w = module.head.weight  # (H, 2L)
        w[:, 12:] = w[:, :12]
        torch.testing.assert_close(module(x), x[..., 0] @ w[:, :12].T + module.head.bias)


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
