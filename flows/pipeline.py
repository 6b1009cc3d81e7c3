"""Prefect tasks around the stage functions, and the comparison flow that composes them.

Each training runs in a fresh worker process that imports this module to find `train_task`,
so only what training needs is imported at the top; the other stages, the runtime and the run
folders are imported where they are used (a worker then skips pandas, Dask, Prefect's server,
statsmodels and the reports: seconds per training).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from prefect import Task, flow, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.client.schemas.objects import TaskRun
from prefect.deployments.runner import RunnerDeployment
from prefect.states import State as TaskState

from flows.stages.train.stage import train_model
from modules.training import no_gpu_for
from schemas.artifacts import Decision, Metrics, read, read_validation
from schemas.config import Config
from schemas.errors import SeqarenaError, UsageError
from schemas.layout import Job, Layout
from schemas.prepared import State
from schemas.tuning import Ticket, TrialRecord

if TYPE_CHECKING:
    from flows.runs.folders import RunFolder

log = logging.getLogger("seqarena")


def _retry_unless_user_error(_: Task, __: TaskRun, state: TaskState) -> bool:
    """Retry crashes and infrastructure errors, never a deterministic user-facing error."""
    return not isinstance(state.result(raise_on_failure=False), SeqarenaError)


@task(name="validate")
def validate_task(cfg: Config, layout: Layout, done: bool = False) -> dict[str, Any]:
    """Check the data against the contract (unless the caller did, `done`); the report
    becomes an artifact, pass or fail."""
    from flows.stages.validate.stage import run as validate

    try:
        if done:
            report = read_validation(layout)
            rows, task = report.rows_used, report.task
        else:
            checked = validate(cfg, layout)
            rows, task = checked.frame.height, checked.roles.task
    finally:
        if layout.validation_md.exists():
            create_markdown_artifact(layout.validation_md.read_text(encoding="utf-8"),
                                     key="seqarena-validation",
                                     description=f"seqarena validation of {cfg.data.path}")
    return {"rows": rows, "task": task}


@task(name="preprocess")
def preprocess_task(cfg: Config, layout: Layout) -> State:
    """Split, scale and window; the holdout's prepared state."""
    from flows.stages.preprocess.stage import run as preprocess

    return preprocess(cfg, layout)


@task(name="train", retries=1, retry_condition_fn=_retry_unless_user_error,
      task_run_name="train-{job.name}-fold{job.fold}-seed{job.seed}")
def train_task(cfg: Config, layout: Layout, job: Job) -> dict[str, Any]:
    """Train one model with one seed on one fold (in a worker process of the runner)."""
    meta = train_model(cfg.models[job.name], cfg.train, layout, job, cfg.forecast.intervals)
    return {k: meta[k] for k in ("name", "params", "train_seconds", "steps", "best_step")}


@task(name="trial", task_run_name="trial-{ticket.label}")
def trial_task(cfg: Config, layout: Layout, ticket: Ticket) -> TrialRecord:
    """One trial of train.tune (in a worker process of the runner): train and val only."""
    from flows.stages.train.trial import run_trial

    return run_trial(cfg.train, layout, ticket)


@task(name="evaluate")
def evaluate_task(cfg: Config, layout: Layout, failures: dict[str, str]) -> Metrics:
    """Score every model and baseline on the test split."""
    from flows.stages.evaluate.stage import run as evaluate

    return evaluate(cfg, layout, failures)


@task(name="promote")
def promote_task(cfg: Config, layout: Layout) -> dict[str, Any]:
    """Pick the winner and write the report."""
    from flows.stages.promote.stage import run as promote

    return promote(cfg, layout)


def _stages(cfg: Config, layout: Layout, validated: bool) -> dict[str, Any]:
    """The stages of one comparison, writing below `layout` (a run folder)."""
    from flows.runtime.fanout import run_jobs

    summary = validate_task(cfg, layout, validated)
    log.info("✓ validate     %d rows, task %s", summary["rows"], summary["task"])
    state = preprocess_task(cfg, layout)
    counts = state.counts
    log.info("✓ preprocess   train/val/test = %d/%d/%d", counts["train"], counts["val"],
             counts["test"])
    if cfg.train.tune.trials:
        if cfg.train.tune.compare_untuned:
            _untuned(cfg, layout, state.folds)
        cfg = _tuned(cfg, layout)
    jobs = cfg.jobs(state.folds)
    log.info("… training %d models x %d seeds x %d fold(s) = %d runs", len(cfg.models),
             cfg.train.seeds, state.folds, len(jobs))
    failures = run_jobs(cfg, layout, train_task, jobs)
    log.info("… evaluate     every run, baseline and reference on the test split; then "
             "each model's latency, alone")
    evaluate_task(cfg, layout, failures)
    log.info("… promote      the decision, report.md and report.html")
    decision = promote_task(cfg, layout)
    _artifacts(cfg, layout)
    return decision


def _untuned(cfg: Config, layout: Layout, folds: int) -> None:
    """train.tune.compare_untuned: every model as configured, trained with the same seeds and
    folds and scored on the test split in layout.untuned (no references: the tuned run's
    are the same), for the report's tuned-vs-untuned verdict."""
    from flows.runtime.fanout import run_jobs
    from schemas.space import TuneConfig

    sub = layout.untuned
    sub.root.mkdir()
    sub.prepared.symlink_to(Path("..") / layout.prepared.name, target_is_directory=True)
    plain = cfg.model_copy(update={
        "train": cfg.train.model_copy(update={"tune": TuneConfig()}),
        "evaluate": cfg.evaluate.model_copy(update={"references": False})})
    jobs = plain.jobs(folds)
    log.info("… untuned      %d models x %d seeds x %d fold(s) = %d runs, as configured",
             len(cfg.models), cfg.train.seeds, folds, len(jobs))
    failures = run_jobs(plain, sub, train_task, jobs)
    evaluate_task.with_options(name="evaluate-untuned")(plain, sub, failures)


def _tuned(cfg: Config, layout: Layout) -> Config:
    """train.tune's search on the fan-out; `cfg` with every model's chosen settings."""
    from flows.runtime.tuning import tune

    return tune(cfg, layout, trial_task)


def _artifacts(cfg: Config, layout: Layout) -> None:
    """The run page's artifacts: the Markdown report, the leaderboard as a table, and a link
    to the HTML report (a file:// URL on the machine that ran the flow)."""
    what = f"seqarena comparison of {cfg.data.path}"
    create_markdown_artifact(layout.report.read_text(encoding="utf-8"), key="seqarena-report",
                             description=what)
    board = pl.read_csv(layout.leaderboard, infer_schema_length=None)
    create_table_artifact(board.to_dicts(), key="seqarena-leaderboard", description=what)
    create_link_artifact(layout.report_html.resolve().as_uri(), link_text="report.html",
                         key="seqarena-report-html", description=what)


def publish(cfg: Config, run: RunFolder) -> tuple[Path | None, dict[str, Any]]:
    """Publish a finished compare run, tag a new champion (GTO) and append its history line;
    the champion, and the line."""
    from flows.runs.gto_tags import tag_champion
    from flows.runs.history import entry

    layout = run.layout
    decision = read(Decision, layout.decision).model_dump(mode="json")
    rows = read(Metrics, layout.metrics).rows()
    params = cfg.model_dump(mode="json", exclude={"out_dir"})
    champion = run.publish(entry("compare", decision, rows, Path(cfg.data.path), params))
    changed = decision["outcome"] == "promoted"
    gto = tag_champion(run.root, cfg.promote.gto_artifact, champion) if changed else None
    return champion, run.record(gto=gto)


@flow(name="seqarena-compare", log_prints=False)
def compare_flow(config: Config, run_dir: str | None = None) -> dict[str, Any]:
    """Validate, preprocess, train every model in parallel, evaluate, promote.

    Scheduled and UI runs leave `run_dir` empty: the flow locks config.out_dir, works in a
    new run folder and publishes it. `seqarena compare` passes the run folder it has locked
    and validated already.
    """
    from flows.runs.folders import RunFolder

    if run_dir:
        return _stages(config, Layout(Path(run_dir)), validated=True)
    with RunFolder(Path(config.out_dir), "scheduled compare") as run:
        decision = _stages(config, run.layout, validated=False)
        publish(config, run)
    return decision


def build_deployment(cfg: Config, name: str, cron: str) -> RunnerDeployment:
    """The comparison on a cron schedule, one run at a time, with `cfg` as its parameters."""
    return compare_flow.to_deployment(
        name=name, cron=cron, parameters={"config": cfg.model_dump(mode="json")},
        concurrency_limit=1, description=f"seqarena comparison of {cfg.data.path}")


def run_compare(cfg: Config) -> dict[str, Any]:
    """Lock the output folder, validate (before any Prefect server starts), run the flow,
    publish the run; the decision, with the promoted model folder after it as `champion`."""
    from flows.runs.folders import RunFolder
    from flows.runtime.fanout import warm_workers
    from flows.runtime.server import prefect_api
    from flows.stages.validate.stage import run as validate

    if not cfg.train.address and (problem := no_gpu_for(cfg.train.accelerator)):
        raise UsageError(problem)  # before any work; a remote Dask worker checks its own GPU
    with RunFolder(Path(cfg.out_dir), "compare") as run:
        validate(cfg, run.layout)  # bad data is refused in seconds, without a server
        warm_workers(cfg, train_task)  # their imports overlap the server's start
        with prefect_api():
            decision = compare_flow(cfg, run_dir=str(run.path))
        champion, line = publish(cfg, run)
    return {**decision, "champion_dir": str(champion) if champion else None,
            "gto": line.get("gto")}
