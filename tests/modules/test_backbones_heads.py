"""Hybrid and bidirectional encoders, the pooled classification head, instance normalisation
of forecasts, the learning-rate schedule, comparable default sizes, and old model files."""


import pytest
import pytorch_lightning as pl
import torch
from pydantic import TypeAdapter
from torch.utils.data import DataLoader, TensorDataset

from modules.backbones import HybridBackbone
from modules.lit import ForecastModule, Stem, auto_stem, build_module
from modules.training import PlateauLR
from schemas.config import load_config
from schemas.specs import ARCHS, ModelSpec
from tests.helpers import ROOT

TINY = {"rnn": {"hidden": 8}, "lstm": {"hidden": 8}, "gru": {"hidden": 8},
        "hybrid": {"hidden": 8, "lstm_layers": 2, "gru_layers": 1},
        "transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16},
        "cnn": {"channels": 6, "blocks": 2}, "linear": {"moving_average": 5}}


def spec(arch: str, **kw: object) -> ModelSpec:
    """A tiny spec of `arch` with its defaults (every option on) unless `kw` says otherwise."""
    return TypeAdapter(ModelSpec).validate_python({"arch": arch, **TINY[arch], **kw})


def test_tiny_specs_cover_every_arch() -> None:
    assert set(TINY) == ARCHS


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_hybrid_shapes(bidirectional: bool, causal: bool) -> None:
    backbone = HybridBackbone(3, spec("hybrid", bidirectional=bidirectional), causal)
    width = 16 if bidirectional and not causal else 8  # forecasting is never bidirectional
    assert backbone.out_dim == width
    assert backbone(torch.randn(4, 10, 3)).shape == (4, 10, width)
    pad = torch.arange(10)[None] >= torch.tensor([10, 7, 3, 1])[:, None]
    assert backbone(torch.randn(4, 10, 3), pad).shape == (4, 10, width)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_hybrid_modules_forecast_and_classify(bidirectional: bool) -> None:
    hybrid = spec("hybrid", bidirectional=bidirectional)
    x = torch.randn(4, 10, 3)
    assert build_module("forecast", hybrid, 3, 7)(x).shape == (4, 7)
    assert build_module("classify", hybrid, 3, 5)(x, torch.tensor([10, 7, 3, 1])).shape == (4, 5)


ENCODERS = [(arch, {}) for arch in sorted(ARCHS)] + [
    (arch, {"bidirectional": False})
    for arch in sorted(ARCHS - {"transformer", "cnn", "linear"})] + [
    (arch, {"stem": 2}) for arch in sorted(ARCHS)]


@pytest.mark.parametrize(("arch", "options"), ENCODERS)
def test_padding_never_changes_a_classification(arch: str, options: dict) -> None:
    torch.manual_seed(0)
    module = build_module("classify", spec(arch, **options), 3, 4).eval()
    lengths = torch.tensor([9, 3, 6, 1, 9])
    x = torch.randn(5, 9, 3)
    garbage = torch.cat([x, 1e3 * torch.randn(5, 6, 3)], dim=1)  # (B, T + 6, F)
    for i, n in enumerate(lengths.tolist()):
        garbage[i, n:] = 1e3 * torch.randn(garbage.shape[1] - n, 3)
    with torch.no_grad():
        alone = torch.cat([module(x[i : i + 1, :n], lengths[i : i + 1])
                           for i, n in enumerate(lengths.tolist())])
        torch.testing.assert_close(module(garbage, lengths), alone, atol=1e-5, rtol=1e-5)


def with_target(x: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """`x` with its target channel (0) scaled then shifted; the covariates as they were."""
    out = x.clone()
    out[..., 0] = scale * x[..., 0] + shift
    return out


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_instance_norm_makes_a_forecast_follow_the_target_scale(arch: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 16, 3)
    normed = build_module("forecast", spec(arch), 3, 7, lookback=16).eval()
    plain = build_module("forecast", spec(arch, instance_norm=False), 3, 7, lookback=16).eval()
    with torch.no_grad():
        moved = normed(with_target(x, 3.7, -12.5))
        torch.testing.assert_close(moved, 3.7 * normed(x) - 12.5, atol=1e-4, rtol=1e-5)
        assert not torch.allclose(plain(with_target(x, 3.7, -12.5)), 3.7 * plain(x) - 12.5,
                                  atol=1e-2)


def trend_windows(start: int, stop: int, mean: float, std: float) -> tuple[torch.Tensor, ...]:
    """Windows (16 in, 4 out) of y = t over [start, stop), scaled like the train rows."""
    y = (torch.arange(start, stop, dtype=torch.float32) - mean) / std
    w = y.unfold(0, 20, 1)  # (N, 20)
    return w[:, :16, None], w[:, 16:]  # (N, 16, 1), (N, 4)


def trend_error(instance_norm: bool) -> tuple[float, float]:
    """MAE, in y's units, of a tiny LSTM trained on y = t for t < 200, on t in [400, 450);
    and the level there."""
    torch.manual_seed(0)
    mean, std = 99.5, 57.7  # the train rows' statistics, as preprocess would fit them
    module = ForecastModule(spec("lstm", layers=1), 1, 4, instance_norm=instance_norm)
    x, y = trend_windows(0, 200, mean, std)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        module.loss((x, y)).backward()
        opt.step()
    x, y = trend_windows(400, 450, mean, std)
    with torch.no_grad():
        mae = (module.eval()(x) - y).abs().mean().item() * std
    return mae, 425.0


def test_instance_norm_forecasts_a_trend_beyond_the_training_range() -> None:
    mae, level = trend_error(instance_norm=True)
    assert mae < 0.02 * level
    plain, _ = trend_error(instance_norm=False)
    assert plain > 10 * mae and plain > 0.1 * level


class LearningRates(pl.Callback):
    """The learning rate at every training step."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *_: object) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


class Stalled(ForecastModule):
    """A forecaster whose validation loss never improves."""

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        self.log("val_loss", 1.0, batch_size=len(batch[0]))


def test_learning_rate_warms_up_then_halves_when_validation_stalls() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 8, 2)
    data = DataLoader(TensorDataset(x, x[:, -3:, 0]), batch_size=4)  # 10 steps an epoch
    module = Stalled(spec("gru"), 2, 3, lr=0.01)
    module.warmup_steps = 5
    seen = LearningRates()
    trainer = pl.Trainer(max_steps=30, val_check_interval=4, check_val_every_n_epoch=None,
                         accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, callbacks=[seen, PlateauLR(patience=2)])
    trainer.fit(module, data, data)
    warm = seen.lrs[:6]
    assert warm == sorted(warm) and warm[0] == pytest.approx(0.001)
    assert warm[5] == pytest.approx(0.01)
    # checks at steps 4, 8, 12: the first sets the best, then 2 stalled ones halve the rate
    assert seen.lrs[12] == pytest.approx(0.005) and seen.lrs[11] == pytest.approx(0.01)
    assert min(seen.lrs) < 0.005  # and it keeps halving while validation stalls


@pytest.mark.parametrize(("task", "n_features", "n_out"), [("forecast", 3, 7),
                                                           ("forecast", 1, 12),
                                                           ("classify", 1, 5),
                                                           ("classify", 12, 9)])
def test_default_models_have_comparable_sizes(task: str, n_features: int, n_out: int) -> None:
    models = load_config(ROOT / "params.yaml", {"models.cnn.channels": 54}).models  # opt-in
    assert set(models) == ARCHS
    with torch.device("meta"):
        sizes = {name: sum(p.numel() for p in build_module(task, s, n_features, n_out,
                                                           lookback=32).parameters())
                 for name, s in models.items()}
    linear = sizes.pop("linear")  # a linear map: its size is its inputs times its outputs
    assert linear == (2 * 32 * n_features * n_out + n_out if task == "forecast"
                      else 3 * n_features * n_out + n_out)
    assert max(sizes.values()) / min(sizes.values()) < 2, sizes
    assert abs(sizes["cnn"] / sizes["lstm"] - 1) < 0.15, sizes  # within 15% of the others'

    for arch in ("rnn", "gru", "hybrid"):  # equal budgets: GRU is no longer the smallest
        assert abs(sizes[arch] / sizes["lstm"] - 1) < 0.01, sizes


def test_the_stem_shortens_long_sequences_only() -> None:
    assert [auto_stem(n) for n in (29, 120, 199, 200, 427, 1344, 10_000)] == [0, 0, 0, 2, 4, 13,
                                                                           16]
    module = build_module("classify", spec("gru", stem=4), 3, 2)
    h, lengths = module.stem(torch.randn(2, 10, 3), torch.tensor([10, 5]))
    assert h.shape == (2, 3, Stem.WIDTH) and lengths.tolist() == [3, 2]  # ceil(L / 4)


def test_defaults_turn_instance_norm_and_pooling_on() -> None:
    for s in load_config(ROOT / "params.yaml").models.values():
        assert s.instance_norm and s.pool and not getattr(s, "bidirectional", False)

