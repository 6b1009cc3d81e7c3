"""The one typed configuration: params.yaml, CLI options and the Prefect flow's parameters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.defects import Policy
from schemas.errors import UsageError
from schemas.intervals import MAX_LEVELS, check_levels
from schemas.layout import Job
from schemas.space import TuneConfig
from schemas.specs import ARCHS, MAX_OUT, ModelSpec

Task = Literal["forecast", "classify"]
MAX_WORKERS = 1024  # trainings at once: more than any one Dask cluster seqarena starts
MAX_THREADS = 256  # torch threads of one training; beyond a machine's cores they only contend
MODEL_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
UP_TO = re.compile(r"up to (\d{1,2})")  # forecast.folds: at most N, as the series allow
MODEL_NAME_RULE = "1-64 letters, digits, '_', '-' or '.', not starting with '.'"


class Strict(BaseModel):
    """Rejects unknown keys, so a typo in params.yaml is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class Columns(Strict):
    """Explicit column roles; unset roles are detected from the default names."""

    id: str | None = None
    time: str | None = None
    target: str | None = None
    label: str | None = None
    features: list[str] | None = Field(None, description="default: every other numeric column")
    split: str | None = Field(None, description="default: a column named 'split' if present")


class DataConfig(Strict):
    """Where the data is and what to do with it."""

    path: str = "data/forecast.csv"
    task: Task | None = Field(None, description="default: classify if a label column exists")
    columns: Columns = Columns()
    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="CSV delimiter; default: detected from the header")


class Bounds(Strict):
    """Inclusive limits for one column's values."""

    min: float | None = None
    max: float | None = None


class ValidationConfig(Strict):
    """The data contract's knobs: one policy per defect, and what the checks compare against."""

    policy: Policy = Policy()
    fill: Literal["interpolate", "forward", "zero"] = Field(
        "interpolate", description="how `gaps: fix` fills the inserted steps")
    bounds: dict[str, Bounds] = Field(default_factory=dict, description="column: {min, max}")
    min_sequence_length: int = Field(2, ge=1, description="classification: shortest sequence")
    missing_values: list[str] = Field(
        default_factory=lambda: ["NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
        description="text read as a missing number or time (an empty cell always is)")


class ForecastConfig(Strict):
    """Windows and splits for forecasting: predict `horizon` steps from the last `lookback`."""

    lookback: int | None = Field(None, ge=1, le=MAX_OUT, description=(
        "input steps; null: max(32, two seasons), shortened to what the series allow"))
    horizon: int = Field(7, ge=1, le=MAX_OUT, description=(
        "steps forecast at once; at most 100,000, the most a model file may hold"))
    season: int | None = Field(None, ge=1, le=MAX_OUT, description=(
        "season length; null: from the time step (hourly 24, daily 7, weekly 52, monthly 12, "
        "quarterly 4, yearly 1, otherwise 1)"))
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    folds: int | Literal["auto"] | str = Field("auto", description=(
        "rolling origins (expanding window), 1-20: fold 0 is the holdout; fold k moves the "
        "cut-off back k test lengths; everything is refitted per fold on its training rows; "
        "auto: one, or more (at most 5, as the series allow) until the test windows hold 30 "
        "that share no target step; 'up to N': N, or fewer when the series are too short"))
    intervals: list[float] = Field(default_factory=lambda: [0.8, 0.95], max_length=MAX_LEVELS,
                                   description=(
        "levels of split-conformal forecast intervals, calibrated on the validation split "
        "(each strictly between 0 and 1); []: none"))

    @field_validator("intervals")
    @classmethod
    def _levels(cls, levels: list[float]) -> list[float]:
        return check_levels(levels)

    @field_validator("folds")
    @classmethod
    def _folds_range(cls, folds: int | str) -> int | str:
        cap = UP_TO.fullmatch(folds) if isinstance(folds, str) else None
        if isinstance(folds, str) and folds != "auto" and not cap:
            raise ValueError("forecast.folds: use 1-20, auto or 'up to N'")
        n = int(cap.group(1)) if cap else folds
        if isinstance(n, int) and not 1 <= n <= 20:
            raise ValueError("forecast.folds: use 1-20, auto or 'up to N'")
        return folds

    def folds_cap(self) -> int | None:
        """N of `folds: up to N` (None for a fixed count or auto)."""
        cap = UP_TO.fullmatch(self.folds) if isinstance(self.folds, str) else None
        return int(cap.group(1)) if cap else None


class ClassifyConfig(Strict):
    """Splits for classification (stratified by label, whole sequences), and the longest
    sequence kept (longer ones keep their first `max_length` steps and are reported)."""

    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    max_length: int = Field(4096, ge=1, description="steps kept per sequence: the first ones")


class TrainConfig(Strict):
    """The same training budget for every architecture."""

    max_steps: int | None = Field(None, ge=1, description=(
        "optimizer steps at most; null: 30 passes over the training split, 1,000-8,000"))
    min_steps: int | None = Field(None, ge=0, description=(
        "early stopping cannot stop before this step; null: a fifth of max_steps"))
    val_every: int | None = Field(None, ge=1, description=(
        "steps between validation checks; null: max_steps / 50"))
    patience: int = Field(10, ge=1, description="validation checks without improvement")
    min_delta: float = Field(0.0, ge=0, description="an improvement smaller than this is none")
    schedule: Literal["plateau", "constant"] = Field("plateau", description=(
        "plateau: warm up over 5% of the steps, halve after patience/2 stalled checks; "
        "constant: train.lr throughout"))
    max_minutes: float | None = Field(None, gt=0, description="wall-clock cap, every model alike")
    max_epochs: int | None = Field(None, ge=1, description="also cap the passes over the data")
    batch_size: int = Field(32, ge=1, description="cut for small sets: >= 4 batches per pass")
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    seed: int = Field(0, ge=0, description="the first seed; runs use seed .. seed+seeds-1")
    seeds: int = Field(2, ge=1, le=50, description=(
        "trainings per model and fold, one seed each, each in its own process"))
    workers: int = Field(0, ge=0, le=MAX_WORKERS, description=(
        "parallel training processes (or Dask workers); 0 = CPU cores"))
    threads: int = Field(1, ge=1, le=MAX_THREADS, description="torch threads per training process")
    accelerator: Literal["cpu", "gpu", "auto"] = Field("cpu", description=(
        "auto: a GPU when torch sees one, else the CPU; each model card records the device"))
    runner: Literal["process", "dask"] = Field("process", description=(
        "process: a pool of fresh processes on this machine; dask: prefect-dask's "
        "DaskTaskRunner on a local cluster of train.workers single-thread workers, or on the "
        "scheduler at train.address"))
    address: str | None = Field(None, description=(
        "an existing Dask scheduler (tcp://host:8786) for runner: dask; null: a local cluster"))
    tune: TuneConfig = TuneConfig()

    def seed_list(self) -> list[int]:
        """The seeds every model is trained with."""
        return [self.seed + i for i in range(self.seeds)]

    def jobs(self, names: list[str], folds: int = 1) -> list[Job]:
        """Every training of the models `names`: model x fold x seed."""
        return [Job(name, seed, fold) for name in names for fold in range(folds)
                for seed in self.seed_list()]

    @model_validator(mode="after")
    def _address_needs_dask(self) -> TrainConfig:
        if self.address and self.runner != "dask":
            raise ValueError("train.address names a Dask scheduler: set train.runner: dask too")
        return self


BASELINES = ["naive", "seasonal_naive", "majority"]
REFERENCE_LIBRARY = {"autoets": "statsforecast", "autotheta": "statsforecast",
                     "autoarima": "statsforecast", "1nn_dtw": "aeon", "minirocket": "aeon"}
REFERENCES = list(REFERENCE_LIBRARY)


class EvaluateConfig(Strict):
    """What the test split is scored against besides the naive baselines."""

    references: bool = Field(True, description=(
        "reference baselines from maintained libraries: AutoETS, AutoTheta and AutoARIMA "
        "(statsforecast) fitted per series before the first test origin and moved forward "
        "over each origin's history; 1-NN DTW and MiniRocket (aeon) over train+val sequences"))


class PromoteConfig(Strict):
    """How the winner is chosen."""

    metric: str | None = Field(None, description="default: mase (forecast), macro_f1 (classify)")
    level: float = Field(0.05, gt=0, lt=1, description=(
        "the level of every test of the decision (one-sided; Holm-adjusted within a family)"))
    margin: float | None = Field(None, gt=0, lt=1, description=(
        "non-inferiority margin: a cheaper model replaces the best mean only if its excess "
        "error is shown below it; absolute for accuracy and macro_f1, a fraction of the best "
        "model's value for error metrics; null: 0.01 (accuracy, macro_f1), 0.02 (mae, rmse, "
        "smape, mase)"))
    prefer: Literal["latency", "parameters", "train_seconds"] = Field("latency", description=(
        "the cost that makes a model cheaper: p50 latency at batch 1 (measured alone), "
        "parameters, or training seconds"))
    must_beat: list[str] | None = Field(None, description=(
        "baselines the winner must be shown better than (the paired test at `level`); null: "
        "the naive ones (naive, seasonal_naive, majority); []: none"))
    challenge: bool = Field(True, description=(
        "the winner replaces the champion (the model promoted before) only if a paired test "
        "on this run's holdout test items finds the champion worse at `level`"))
    unscorable: Literal["replace", "keep"] = Field("replace", description=(
        "when the champion cannot score this run's data (other columns, classes or series)"))
    gto_artifact: str | None = Field("seqarena-model", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
                                     description=(
        "in a git repository, each new champion is tagged NAME@v0.0.N and NAME#prod#K (GTO); "
        "null: no tags"))


def default_models() -> dict[str, Any]:
    """The six default models of the comparison (as in params.yaml;
    tests/schemas/test_config.py keeps the two equal): widths solved so the four recurrent
    families have the same parameter count within 1% for 1-12 inputs and 3-12 outputs
    (tests/modules/test_backbones_heads.py)."""
    return {
        "rnn": {"arch": "rnn", "hidden": 128},
        "lstm": {"arch": "lstm", "hidden": 64},
        "gru": {"arch": "gru", "hidden": 74},
        "hybrid": {"arch": "hybrid", "hidden": 70},
        "transformer": {"arch": "transformer"},
        "linear": {"arch": "linear"},
    }


class Config(Strict):
    """A whole comparison run."""

    data: DataConfig = DataConfig()
    forecast: ForecastConfig = ForecastConfig()
    classify: ClassifyConfig = ClassifyConfig()
    validation: ValidationConfig = ValidationConfig()
    models: dict[str, ModelSpec] = Field(default_factory=default_models, validate_default=True)
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    promote: PromoteConfig = PromoteConfig()
    out_dir: str = "results"

    @model_validator(mode="before")
    @classmethod
    def _arch_defaults_to_name(cls, raw: Any) -> Any:
        """`models: {lstm: {hidden: 32}}` means arch lstm: the entry's name is its default arch."""
        if isinstance(raw, dict) and isinstance(raw.get("models"), dict):
            raw = dict(raw)
            raw["models"] = {
                name: ({"arch": name, **spec} if isinstance(spec, dict) else spec)
                for name, spec in raw["models"].items()
            }
        return raw

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, models: Any) -> Any:
        """Names become folders and task names: no '/', no '..', nothing hidden."""
        if isinstance(models, dict):
            bad = [str(n) for n in models if not MODEL_NAME.fullmatch(str(n))]
            if bad:
                raise ValueError(f"model name(s) {', '.join(map(repr, bad))} not allowed: "
                                 f"use {MODEL_NAME_RULE}")
        return models

    def jobs(self, folds: int = 1) -> list[Job]:
        """Every training of the comparison: model x fold x seed."""
        return self.train.jobs(list(self.models), folds)

    @model_validator(mode="after")
    def _some_model(self) -> Config:
        if not self.models:
            raise ValueError("models: list at least one model to compare")
        return self

    @model_validator(mode="after")
    def _known_gates(self) -> Config:
        """promote.must_beat names baselines this run will have, before anything trains."""
        gates = set(self.promote.must_beat or [])
        unknown = sorted(gates - set(BASELINES) - set(REFERENCES))
        if unknown:
            raise ValueError(f"promote.must_beat: unknown {', '.join(unknown)}; use "
                             f"{', '.join(BASELINES + REFERENCES)}")
        if gates & set(REFERENCES) and not self.evaluate.references:
            raise ValueError("promote.must_beat names a reference baseline, but "
                             "evaluate.references is false; set it to true")
        return self


# budget presets (`seqarena compare --preset`, the app's form): dotted keys applied before
# every other option, so an explicit option wins
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"train.seeds": 1, "train.max_steps": 1000},  # a first look: one seed, short
    "default": {},  # params.yaml as it is
    # tuned: 20 trials per model, three seeds, three folds where the series allow
    "thorough": {"train.tune.trials": 20, "train.seeds": 3, "forecast.folds": "up to 3"},
}


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load params.yaml (if given) with dotted-key overrides; a UsageError names the bad key."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: not UTF-8 text (byte {exc.start + 1}); save the parameters "
                             "as UTF-8.") from None
        except RecursionError:
            raise UsageError(f"{path}: nested too deeply to be parameters.") from None
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read the parameters ({exc}).") from exc
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: expected a mapping of parameters at the top level.")
    overrides = overrides or {}
    if "models" not in raw and any(k.startswith("models.") for k in overrides):
        raw["models"] = default_models()  # `models.gru.hidden=32` changes gru, keeps the rest
    for key, value in overrides.items():
        _set_dotted(raw, key, value)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        where = str(path) if path else "options"
        problems = "; ".join(
            f"{_key(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise UsageError(f"{where}: invalid parameters: {problems}.") from exc


def _key(loc: tuple[int | str, ...]) -> str:
    """The dotted params key of an error, without the union's arch tag that pydantic adds
    (models.big.lstm.hidden -> models.big.hidden)."""
    if len(loc) > 2 and loc[0] == "models" and loc[2] in ARCHS:
        loc = loc[:2] + loc[3:]
    return ".".join(str(p) for p in loc)


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        if not isinstance(node.get(part), dict):
            if node.get(part) is not None:
                raise UsageError(f"{key}: '{'.'.join(parents[:i + 1])}' is a value, not a "
                                 "section; set the whole value or fix the key.")
            node[part] = {}
        node = node[part]
    node[leaf] = value
