"""Where each stage reads and writes, below one output folder (`out_dir`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the names at the top of an output folder, each a link into its `latest` run
# (flows/runs/folders.py)
PUBLISHED = ("validation.json", "validation.md", "validated.parquet", "quarantine.csv",
             "quarantine.parquet", "prepared", "models", "metrics.json", "leaderboard.csv",
             "errors.parquet", "forecasts.parquet", "decision.json", "report.md", "report.html",
             "plots", "promoted")

# the files of a model folder (models/NAME/, promoted/, versions/vNNNN/)
WEIGHTS, MODEL_CARD, PREPROCESSING = "weights.safetensors", "model.json", "preprocessing.json"
ONNX, ONNX_CARD = "model.onnx", "onnx.json"  # `seqarena export` (schemas/serving.py)
DECISION = "decision.json"
PROGRESS = "progress.json"  # schemas/progress.py
RESIDUALS = "val_residuals.npz"  # a forecaster's validation residuals (flows/stages/train)


@dataclass(frozen=True, order=True)
class Job:
    """One training of the fan-out: model `name` with seed `seed` on fold `fold` (0 is the
    holdout: the latest origin; fold k moves the forecast cut-off back k test lengths)."""

    name: str
    seed: int = 0
    fold: int = 0

    @property
    def key(self) -> str:
        return f"{self.name}/fold-{self.fold}/seed-{self.seed}"


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
    def champion(self) -> Path:
        """A link to the version that was the champion when this run started (if any)."""
        return self.root / "champion"

    @property
    def prepared(self) -> Path:
        return self.root / "prepared"

    def fold_dir(self, fold: int = 0) -> Path:
        """prepared/ holds fold 0 (the holdout); prepared/fold-K/ the earlier origins."""
        return self.prepared if fold == 0 else self.prepared / f"fold-{fold}"

    def arrays_of(self, fold: int = 0) -> Path:
        return self.fold_dir(fold) / "arrays.npz"

    def state_of(self, fold: int = 0) -> Path:
        return self.fold_dir(fold) / "state.json"

    @property
    def arrays(self) -> Path:
        return self.arrays_of(0)

    @property
    def state(self) -> Path:
        return self.state_of(0)

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model_dir(self, name: str) -> Path:
        """Every training of one model (one DVC output per model)."""
        return self.models / name

    def job_dir(self, job: Job) -> Path:
        return self.models / job.key

    def weights(self, job: Job) -> Path:
        return self.job_dir(job) / WEIGHTS

    def card(self, job: Job) -> Path:
        return self.job_dir(job) / MODEL_CARD

    def residuals(self, job: Job) -> Path:
        """A forecaster's validation residuals y - ŷ (scaled) and their series, which evaluate
        pools across folds into its interval calibration."""
        return self.job_dir(job) / RESIDUALS

    def progress(self, job: Job) -> Path:
        """Where a running training reports its steps (gone once its card is written)."""
        return self.job_dir(job) / PROGRESS

    @property
    def tuning(self) -> Path:
        """train.tune's folder: the Optuna study (a journal) and tuning.json, every trial."""
        return self.root / "tuning"

    @property
    def study(self) -> Path:
        """The Optuna journal of every model's study (one study per model, by name)."""
        return self.tuning / "study.journal"

    @property
    def trials(self) -> Path:
        """tuning.json: every trial's record and each model's chosen settings."""
        return self.tuning / "tuning.json"

    @property
    def untuned(self) -> Layout:
        """train.tune.compare_untuned: every model as configured, trained and scored in a
        layout of its own (its prepared/ a link to this run's)."""
        return Layout(self.root / "untuned")

    @property
    def errors(self) -> Path:
        """Per-item test errors of every model, seed and fold (the paired tests read them)."""
        return self.root / "errors.parquet"

    @property
    def forecasts(self) -> Path:
        """A few test windows of fold 0 with history, actual future and forecasts (the report
        draws them; only the columns when classifying)."""
        return self.root / "forecasts.parquet"

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

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def plots(self) -> Path:
        """The plot tables (CSV) that dvc.yaml declares as plots."""
        return self.root / "plots"

    @property
    def history(self) -> Path:
        """history.jsonl of the output folder (in a run folder: a link to it)."""
        return self.root / "history.jsonl"
