"""Prefect tasks around the stage functions, and the comparison flow that composes them."""

from __future__ import annotations

import logging
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.deployments.runner import RunnerDeployment
from prefect.futures import as_completed
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL
from prefect.states import State
from prefect.task_runners import ProcessPoolTaskRunner

from flows.errors import SeqarenaError
from flows.evaluate import evaluate
from flows.layout import Layout
from flows.preprocess import preprocess
from flows.promote import promote
from flows.train import train_model
from flows.validate import validate
from schemas.config import Config

log = logging.getLogger("seqarena")


def share_api_with_workers() -> None:
    """Point training processes at this process's Prefect API.

    With no server configured, Prefect embeds one per process: spawned workers would each
    start their own over the same SQLite file ("database is locked"), so start it here once.
    """
    url = PREFECT_API_URL.value()
    if not url:
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        server = SubprocessASGIServer()  # the same instance Prefect's client uses; idempotent
        server.start()
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url


def _retry_unless_user_error(_: Task, __: TaskRun, state: State) -> bool:
    """Retry crashes and infrastructure errors, never a deterministic user-facing error."""
    return not isinstance(state.result(raise_on_failure=False), SeqarenaError)


@task(name="validate")
def validate_task(cfg: Config) -> dict[str, Any]:
    """Check the data against the contract; the report becomes an artifact, pass or fail."""
    layout = Layout(Path(cfg.out_dir))
    try:
        v = validate(cfg)
    finally:
        if layout.validation_md.exists():
            create_markdown_artifact(layout.validation_md.read_text(encoding="utf-8"),
                                     key="seqarena-validation",
                                     description=f"seqarena validation of {cfg.data.path}")
    return {"rows": v.frame.height, **v.roles.to_dict()}


@task(name="preprocess")
def preprocess_task(cfg: Config) -> dict[str, Any]:
    """Split, scale and window."""
    return preprocess(cfg)["counts"]


@task(name="train", retries=1, retry_condition_fn=_retry_unless_user_error,
      task_run_name="train-{name}")
def train_task(cfg: Config, name: str) -> dict[str, Any]:
    """Train one model (in its own worker process under the process-pool runner)."""
    meta = train_model(cfg, name)
    return {k: meta[k] for k in ("name", "params", "train_seconds", "epochs", "best_epoch")}


@task(name="evaluate")
def evaluate_task(cfg: Config, failures: dict[str, str]) -> list[dict[str, Any]]:
    """Score every model and baseline on the test split."""
    return evaluate(cfg, failures)


@task(name="promote")
def promote_task(cfg: Config) -> dict[str, Any]:
    """Pick the winner and write the report."""
    return promote(cfg)


def largest_first(cfg: Config) -> list[str]:
    """Model names by parameter count, largest first: long jobs start early, so the
    parallel makespan is shorter (longest-processing-time-first scheduling)."""
    import torch

    from modules.lit import build_module

    def size(name: str) -> int:
        with torch.device("meta"):  # shapes only: no memory, however large the model
            module = build_module("forecast", cfg.models[name], n_features=1, n_out=1)
        return sum(p.numel() for p in module.parameters())

    return sorted(cfg.models, key=size, reverse=True)


def train_all(cfg: Config) -> dict[str, str]:
    """Submit one training task per model; return {name: error} for those that failed."""
    share_api_with_workers()
    futures = {train_task.submit(cfg, name): name for name in largest_first(cfg)}
    failures: dict[str, str] = {}
    for future in as_completed(list(futures)):
        name = futures[future]
        try:
            result = future.result(raise_on_failure=False)
        except BrokenProcessPool as exc:  # a worker died hard (killed, out of memory)
            result = exc
        if isinstance(result, BaseException):
            failures[name] = f"{type(result).__name__}: {result}"
            log.info("✗ %-12s failed: %s", name, failures[name])
        else:
            log.info("✓ %-12s %6.1f s, %d epochs (best %d), %s params", name,
                     result["train_seconds"], result["epochs"], result["best_epoch"],
                     f"{result['params']:,}")
    return failures


@flow(name="seqarena-compare", task_runner=ProcessPoolTaskRunner(), log_prints=False)
def compare_flow(config: Config) -> dict[str, Any]:
    """Validate, preprocess, train every model in parallel, evaluate, promote."""
    summary = validate_task(config)
    log.info("✓ validate     %d rows, task %s", summary["rows"], summary["task"])
    counts = preprocess_task(config)
    log.info("✓ preprocess   train/val/test = %d/%d/%d", counts["train"], counts["val"],
             counts["test"])
    log.info("… training %d models", len(config.models))
    failures = train_all(config)
    evaluate_task(config, failures)
    decision = promote_task(config)
    report = Layout(Path(config.out_dir)).report
    create_markdown_artifact(report.read_text(encoding="utf-8"), key="seqarena-report",
                             description=f"seqarena comparison of {config.data.path}")
    return decision


def build_deployment(cfg: Config, name: str, cron: str) -> RunnerDeployment:
    """The comparison on a cron schedule, one run at a time, with `cfg` as its parameters."""
    return compare_flow.to_deployment(
        name=name, cron=cron, parameters={"config": cfg.model_dump(mode="json")},
        concurrency_limit=1, description=f"seqarena comparison of {cfg.data.path}")


def run_compare(cfg: Config) -> dict[str, Any]:
    """Run the flow with one training process per core (or train.workers)."""
    workers = cfg.train.workers or os.cpu_count() or 1
    runner = ProcessPoolTaskRunner(max_workers=min(workers, len(cfg.models)))
    share_api_with_workers()
    return compare_flow.with_options(task_runner=runner)(cfg)
