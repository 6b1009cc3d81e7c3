"""The check form's settings: what a person chose for one project, as the command line's
options (the app runs the same `seqarena validate` and `seqarena compare` a person would)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.config import PRESETS
from schemas.defects import DEFECTS, Policy, allowed
from schemas.files import read_json, write_json

ROLES = ("id", "time", "target", "label", "split")


class Settings(BaseModel):
    """One project's choices; empty means "as seqarena infers it" (or as the params say)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["auto", "forecast", "classify"] = "auto"
    id: str | None = None
    time: str | None = None
    target: str | None = None
    label: str | None = None
    split: str | None = None
    features: list[str] | None = None
    horizon: int | None = Field(None, ge=1, le=10_000)
    season: int | None = Field(None, ge=1, le=10_000)
    lookback: int | None = Field(None, ge=1, le=100_000)
    policy: dict[str, str] = Field(default_factory=dict)  # defect -> action
    models: list[str] = Field(default_factory=list)  # empty: every configured model
    seeds: int | None = Field(None, ge=1, le=50)
    folds: int | Literal["auto"] | None = None
    steps: int | None = Field(None, ge=1, le=1_000_000)
    references: bool = True
    preset: Literal["quick", "default", "thorough"] = "default"

    def data_args(self) -> list[str]:
        """Options of `seqarena validate` (and of compare): task, columns, horizon, policies."""
        args = [] if self.task == "auto" else ["--task", self.task]
        for role in ROLES:
            if value := getattr(self, role):
                args += [f"--{role}", value]
        if self.features:
            args += ["--features", ",".join(self.features)]
        for opt in ("horizon", "season", "lookback"):
            if value := getattr(self, opt):
                args += [f"--{opt}", str(value)]
        for defect, action in sorted(self.policy.items()):
            args += ["--set", f"validation.policy.{defect}={action}"]
        return args

    def compare_args(self) -> list[str]:
        """Options of `seqarena compare`: the data options, then models and budget."""
        args = [*self.data_args(), "--preset", self.preset]
        if self.models:
            args += ["--models", ",".join(self.models)]
        for opt in ("seeds", "folds", "steps"):
            if (value := getattr(self, opt)) is not None:
                args += [f"--{opt}", str(value)]
        if not self.references:
            args += ["--set", "evaluate.references=false"]
        return args


def policy_choices() -> dict[str, tuple[tuple[str, ...], str, str]]:
    """Each defect's allowed actions, its default and what it is, for the form."""
    defaults = Policy()
    return {d: (allowed(d), getattr(defaults, d), DEFECTS[d].problem) for d in Policy.model_fields}


def from_form(form: dict[str, str], models: list[str]) -> Settings:
    """Settings from the check form's fields (strings); a refusal names the bad field."""
    def text(key: str) -> str | None:
        value = (form.get(key) or "").strip()
        return value or None

    raw: dict[str, object] = {"task": text("task") or "auto", "preset": text("preset") or
                              "default", "references": form.get("references") == "on"}
    for role in ROLES:
        raw[role] = text(role)
    if features := text("features"):
        raw["features"] = [f.strip() for f in features.split(",") if f.strip()]
    for key in ("horizon", "season", "lookback", "seeds", "steps"):
        raw[key] = text(key)
    raw["folds"] = text("folds")
    raw["models"] = [m for m in models if form.get(f"model_{m}") == "on"]
    choices = policy_choices()
    raw["policy"] = {d: form[f"policy_{d}"] for d in choices
                     if form.get(f"policy_{d}") and form[f"policy_{d}"] != choices[d][1]}
    bad = {d: a for d, a in raw["policy"].items() if a not in choices[d][0]}  # type: ignore[union-attr]
    if bad:
        raise ValueError(f"policy: {bad} not allowed")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None


def read_settings(path: Path) -> Settings:
    """The saved settings, or the defaults (also for a file that is damaged)."""
    try:
        return Settings.model_validate(read_json(path))
    except (OSError, ValueError, ValidationError):
        return Settings()


def write_settings(path: Path, settings: Settings) -> None:
    """Save the settings atomically."""
    write_json(path, settings.model_dump(mode="json"))


def preset_text() -> dict[str, str]:
    """Each preset in words, for the form."""
    return {name: (", ".join(f"{k} = {v}" for k, v in keys.items()) or "params as they are")
            for name, keys in PRESETS.items()}
