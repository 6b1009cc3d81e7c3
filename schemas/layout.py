"""Where each stage reads and writes, below one output folder (`out_dir`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the names at the top of an output folder, each a link into its `latest` run (flows/runs.py)
PUBLISHED = ("validation.json", "validation.md", "validated.parquet", "quarantine.csv",
             "quarantine.parquet", "prepared", "models", "metrics.json", "leaderboard.csv",
             "decision.json", "report.md", "promoted")

# the files of a model folder (models/NAME/, promoted/, versions/vNNNN/)
WEIGHTS, MODEL_CARD, PREPROCESSING = "weights.safetensors", "model.json", "preprocessing.json"
DECISION = "decision.json"


@dataclass(frozen=True)
class Layout:
    """Paths of every artifact of a run."""

    root: Path

    @property
    def validation(self) -> Path:
        return self.root / "validation.json"

    @property
    def validation_md(self) -> Path:
        return self.root / "validation.md"

    @property
    def quarantine_csv(self) -> Path:
        return self.root / "quarantine.csv"

    @property
    def quarantine_parquet(self) -> Path:
        return self.root / "quarantine.parquet"

    @property
    def validated(self) -> Path:
        return self.root / "validated.parquet"

    @property
    def prepared(self) -> Path:
        return self.root / "prepared"

    @property
    def arrays(self) -> Path:
        return self.prepared / "arrays.npz"

    @property
    def state(self) -> Path:
        return self.prepared / "state.json"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model_dir(self, name: str) -> Path:
        return self.models / name

    def weights(self, name: str) -> Path:
        return self.model_dir(name) / WEIGHTS

    def card(self, name: str) -> Path:
        return self.model_dir(name) / MODEL_CARD

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def leaderboard(self) -> Path:
        return self.root / "leaderboard.csv"

    @property
    def promoted(self) -> Path:
        return self.root / "promoted"

    @property
    def decision(self) -> Path:
        return self.root / "decision.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"
