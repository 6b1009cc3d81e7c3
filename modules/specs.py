"""Typed hyper-parameters of each architecture (torch-free, so configs load fast)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

# upper bounds on sizes, for training and for reading a model folder alike: a hand-edited
# model.json cannot make `predict` build millions of layers or allocate gigabytes
MAX_WIDTH = 8192  # hidden / d_model; one LSTM layer this wide already has ~5e8 weights
MAX_LAYERS = 64
MAX_HEADS = 64
MAX_FF = 32768

# The options below default to false because model.json files written before they existed
# lack them and must rebuild the module they were trained as; params.yaml turns them on.
LEGACY_OFF = "false (the default) only for model files written before this option existed"


class Spec(BaseModel):
    """Base of every architecture's hyper-parameters; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class RecurrentSpec(Spec):
    """Stacked RNN, LSTM or GRU."""

    arch: Literal["rnn", "lstm", "gru"]
    hidden: int = Field(64, ge=1, le=MAX_WIDTH, description=f"state size, 1-{MAX_WIDTH}")
    layers: int = Field(2, ge=1, le=MAX_LAYERS, description=f"stacked layers, 1-{MAX_LAYERS}")
    dropout: float = Field(0.1, ge=0, lt=1)
    bidirectional: bool = Field(False, description="classify: also read each sequence "
                                "backwards from its last real step (doubles the state); "
                                f"forced off when forecasting, which must be causal; {LEGACY_OFF}")


class HybridSpec(Spec):
    """LSTM layers, then GRU layers on their outputs."""

    arch: Literal["hybrid"]
    hidden: int = Field(64, ge=1, le=MAX_WIDTH, description=f"state size, 1-{MAX_WIDTH}")
    lstm_layers: int = Field(1, ge=1, le=MAX_LAYERS, description=f"LSTM layers, 1-{MAX_LAYERS}")
    gru_layers: int = Field(1, ge=1, le=MAX_LAYERS, description=f"GRU layers, 1-{MAX_LAYERS}")
    dropout: float = Field(0.1, ge=0, lt=1)
    bidirectional: bool = Field(False, description="as for rnn/lstm/gru: classify only; "
                                f"{LEGACY_OFF}")


class TransformerSpec(Spec):
    """Transformer encoder with sinusoidal positions; causal when it forecasts."""

    arch: Literal["transformer"]
    d_model: int = Field(64, ge=1, le=MAX_WIDTH, description=f"model width, 2-{MAX_WIDTH}")
    heads: int = Field(4, ge=1, le=MAX_HEADS, description=f"attention heads, 1-{MAX_HEADS}")
    layers: int = Field(2, ge=1, le=MAX_LAYERS, description=f"encoder layers, 1-{MAX_LAYERS}")
    ff: int = Field(128, ge=1, le=MAX_FF, description=f"feed-forward width, 1-{MAX_FF}")
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerSpec:
        if self.d_model % self.heads or self.d_model % 2:
            raise ValueError("d_model must be even and divisible by heads")
        return self


ModelSpec = Annotated[RecurrentSpec | HybridSpec | TransformerSpec, Field(discriminator="arch")]
ARCHS = frozenset(a for spec in get_args(get_args(ModelSpec)[0])
                  for a in get_args(spec.model_fields["arch"].annotation))
