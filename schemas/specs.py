"""Typed hyper-parameters of each architecture (torch-free, so configs load fast)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.space import Dim, choice, floats, ints

# upper bounds on sizes, for training and for reading a model folder alike: a hand-edited
# model.json cannot make `predict` build millions of layers or allocate gigabytes
MAX_WIDTH = 8192  # hidden / d_model; one LSTM layer this wide already has ~5e8 weights
MAX_LAYERS = 64
MAX_HEADS = 64
MAX_FF = 32768
MAX_FEATURES = 100_000  # inputs per time step
MAX_OUT = 100_000  # forecast horizon or number of classes
MAX_KERNEL = 255  # a convolution's width
DROPOUT = floats("dropout", 0.0, 0.3)


class Spec(BaseModel):
    """Base of every architecture's hyper-parameters; unknown keys are rejected. SPACE is the
    search space of `train.tune` (schemas/space.py): every spec declares its own."""

    model_config = ConfigDict(extra="forbid")
    SPACE: ClassVar[tuple[Dim, ...]] = (floats("lr", 3e-4, 1e-2, log=True),
                                        floats("weight_decay", 1e-6, 1e-2, log=True))

    lr: float | None = Field(None, gt=0, description="this model's learning rate; null: "
                             "train.lr (tuning sets it)")
    weight_decay: float | None = Field(None, ge=0, description="this model's weight decay; "
                                       "null: train.weight_decay (tuning sets it)")

    def with_rates(self, lr: float, weight_decay: float) -> Self:
        """This spec with its own learning rate and weight decay, else these (train's)."""
        return self.model_copy(update={
            "lr": lr if self.lr is None else self.lr,
            "weight_decay": weight_decay if self.weight_decay is None else self.weight_decay})

    instance_norm: bool = Field(True, description="forecast: each input window's target is "
                                "scaled by the window's own mean and std and the forecast "
                                "scaled back (RevIN); classification ignores it")
    pool: bool = Field(True, description="classify: the head reads the last real step and the "
                       "mean and max over real steps, not the last step alone; forecasting "
                       "ignores it")
    stem: int | None = Field(None, ge=0, le=64, description="classify: a strided convolution "
                             "(stride s, kernel 2s, 32 channels, ReLU) turns every s steps "
                             "into one before the backbone, so it reads local shapes in s "
                             "times fewer steps; padding never reaches a real step. null: "
                             "s = longest training sequence // 100 (none below 200 steps); "
                             "0: none. Forecasting ignores it")


class RecurrentSpec(Spec):
    """Stacked RNN, LSTM or GRU."""

    arch: Literal["rnn", "lstm", "gru"]
    SPACE = (*Spec.SPACE, ints("hidden", 16, 192, log=True), ints("layers", 1, 3), DROPOUT)
    hidden: int = Field(64, ge=1, le=MAX_WIDTH, description=f"state size, 1-{MAX_WIDTH}")
    layers: int = Field(2, ge=1, le=MAX_LAYERS, description=f"stacked layers, 1-{MAX_LAYERS}")
    dropout: float = Field(0.1, ge=0, lt=1)
    bidirectional: bool = Field(False, description="classify: also read each sequence "
                                "backwards from its last real step (doubles the state); "
                                "always off when forecasting, which is causal")


class HybridSpec(Spec):
    """LSTM layers, then GRU layers on their outputs."""

    arch: Literal["hybrid"]
    SPACE = (*Spec.SPACE, ints("hidden", 16, 192, log=True), ints("lstm_layers", 1, 2),
             ints("gru_layers", 1, 2), DROPOUT)
    hidden: int = Field(72, ge=1, le=MAX_WIDTH, description=f"state size, 1-{MAX_WIDTH}")
    lstm_layers: int = Field(1, ge=1, le=MAX_LAYERS, description=f"LSTM layers, 1-{MAX_LAYERS}")
    gru_layers: int = Field(1, ge=1, le=MAX_LAYERS, description=f"GRU layers, 1-{MAX_LAYERS}")
    dropout: float = Field(0.1, ge=0, lt=1)
    bidirectional: bool = Field(False, description="classify only, as for rnn/lstm/gru")


class TransformerSpec(Spec):
    """Transformer encoder with sinusoidal positions; causal when it forecasts."""

    arch: Literal["transformer"]
    SPACE = (*Spec.SPACE, choice("d_model", 16, 32, 64, 128), choice("heads", 1, 2, 4),
             ints("layers", 1, 3), ints("ff", 32, 512, log=True), DROPOUT)
    d_model: int = Field(64, ge=1, le=MAX_WIDTH, description=f"model width, 2-{MAX_WIDTH}")
    heads: int = Field(4, ge=1, le=MAX_HEADS, description=f"attention heads, 1-{MAX_HEADS}")
    layers: int = Field(2, ge=1, le=MAX_LAYERS, description=f"encoder layers, 1-{MAX_LAYERS}")
    ff: int = Field(192, ge=1, le=MAX_FF, description=f"feed-forward width, 1-{MAX_FF}")
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerSpec:
        if self.d_model % self.heads or self.d_model % 2:
            raise ValueError("d_model must be even and divisible by heads")
        return self


class CnnSpec(Spec):
    """Residual 1-D convolutions (InceptionTime style: kernels of several widths side by
    side, batch norm, shortcuts), dilated 1, 2, 4, ... block by block; causal when it
    forecasts (TCN style)."""

    arch: Literal["cnn"]
    SPACE = (*Spec.SPACE, ints("channels", 12, 96, log=True), ints("blocks", 1, 5),
             choice("kernels", "3", "3,5", "3,5,9", "3,7,15"), DROPOUT)
    channels: int = Field(54, ge=1, le=MAX_WIDTH, description=(
        f"channels of each block, split evenly over the kernels, 1-{MAX_WIDTH}"))
    blocks: int = Field(4, ge=1, le=MAX_LAYERS, description=(
        f"residual blocks, 1-{MAX_LAYERS}; block i dilates by 2**i"))
    kernels: list[Annotated[int, Field(ge=1, le=MAX_KERNEL)]] = Field(
        [3, 5, 9], min_length=1, max_length=8, description=(
            f"odd kernel widths side by side in each block, 1-{MAX_KERNEL}"))
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _odd_kernels_share_channels(self) -> CnnSpec:
        if any(k % 2 == 0 for k in self.kernels):
            raise ValueError("kernels must be odd (a centred window when classifying)")
        if self.channels < len(self.kernels):
            raise ValueError("channels must be at least the number of kernels")
        return self


class LinearSpec(Spec):
    """Forecast: DLinear (a moving-average trend and the remainder of each input window,
    each mapped linearly from the lookback to the horizon). Classify: a linear map of each
    sequence's last step and its mean and max over real steps (with `pool`)."""

    arch: Literal["linear"]
    SPACE = (*Spec.SPACE, choice("moving_average", 5, 13, 25))
    moving_average: int = Field(25, ge=1, le=MAX_KERNEL, description=(
        "odd width of the trend's moving average over the lookback (DLinear's 25), edges "
        "repeated"))

    @model_validator(mode="after")
    def _odd_average(self) -> LinearSpec:
        if self.moving_average % 2 == 0:
            raise ValueError("moving_average must be odd (a centred window)")
        return self


ModelSpec = Annotated[RecurrentSpec | HybridSpec | TransformerSpec | CnnSpec | LinearSpec,
                      Field(discriminator="arch")]
SPEC_OF = {a: spec for spec in get_args(get_args(ModelSpec)[0])
           for a in get_args(spec.model_fields["arch"].annotation)}
ARCHS = frozenset(SPEC_OF)

