"""`seqarena` command line: validate, compare, predict, serve, and the DVC stage entry."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flows.cli.args import build_parser, overrides
from flows.runtime.procs import Terminated, handle_sigterm
from schemas.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    DataValidationError,
    SeqarenaError,
    UsageError,
)

if TYPE_CHECKING:
    from schemas.config import Config

def _config(args: argparse.Namespace) -> Config:
    """The typed config: --params file, then options; --models picks a subset."""
    from schemas.config import load_config

    cfg = load_config(args.params, overrides(args))
    if getattr(args, "models", None):
        names = args.models.split(",")
        unknown = [n for n in names if n not in cfg.models]
        if unknown:
            raise UsageError(f"--models: unknown {unknown}; configured: {', '.join(cfg.models)}")
        cfg = cfg.model_copy(update={"models": {n: cfg.models[n] for n in names}})
    return cfg


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.runs.folders import RunFolder
    from flows.stages.validate.stage import run as validate
    from schemas.artifacts import read_validation
    from schemas.layout import Layout

    cfg = _config(args)
    out = Path(cfg.out_dir)
    with RunFolder(out, "validate") as run:
        try:
            v = validate(cfg, run.layout)
        except DataValidationError:
            run.publish()  # the report is what `validate` is for, pass or fail
            raise
        run.publish()
    r = read_validation(Layout(out))
    print(f"{args.data}: valid — task {v.roles.task}; {r.rows_used} of {r.rows_in} rows "
          f"used, {r.rows_quarantined} quarantined, {r.rows_added} inserted; "
          f"report {Layout(out).validation_md}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from flows.pipeline import run_compare
    from flows.report.terminal import print_summary
    from schemas.artifacts import Decision, Metrics, read
    from schemas.layout import Layout

    start = time.perf_counter()
    result = run_compare(cfg)
    layout = Layout(Path(cfg.out_dir))
    metrics, decision = read(Metrics, layout.metrics), read(Decision, layout.decision)
    print_summary(metrics, decision, sys.stdout)
    print(f"Report: {layout.report}")
    if result["champion_dir"]:
        kept = "" if decision.outcome == "promoted" else " (the champion stays)"
        print(f"Model:  {layout.promoted} -> {result['champion_dir']}{kept}")
    if result.get("gto"):
        print(f"GTO:    {result['gto']}")
    print(f"Done in {time.perf_counter() - start:.1f} s.")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from flows.cli.predict import predict_file
    from flows.runs.folders import champion_of

    model = args.model or (champion_of(args.source) and args.source / "promoted")
    if not model:
        raise UsageError(f"{args.source}: no champion here (promoted/ is missing); pass the "
                         "--from of a compare run that promoted a winner, or --model.")
    frame = predict_file(args.data, model, args.out, args.engine)
    print(f"{args.out}: {frame.height} predictions by {model} "
          f"({Path(os.path.realpath(model)).name})")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from flows.cli.export import export, summary

    print(summary(*export(args.source, args.model, args.out)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from flows.runs.folders import FolderLock
    from flows.stages.promote.review import write_reports
    from schemas.layout import Layout

    run = args.run / "latest" if (args.run / "latest").exists() else args.run
    if not (run / "decision.json").exists():
        raise UsageError(f"{args.run}: no finished run here (decision.json missing); pass an "
                         "output folder of `seqarena compare` or one of its runs/ID folders.")
    in_runs = run == args.run and args.run.resolve().parent.name == "runs"
    root = args.run.resolve().parent.parent if in_runs else args.run  # the folder locked
    with FolderLock(root, "report"):
        md, page = write_reports(Layout(Path(os.path.realpath(run))))
    print(f"{md}\n{page}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from flows.runs.rollback import history_table

    print(history_table(args.out))
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    from flows.runs.rollback import rollback
    from schemas.config import load_config

    artifact = load_config(args.params).promote.gto_artifact
    line = rollback(args.out, args.rollback or None, artifact)
    print(f"{args.out}: champion {line['previous']} -> {line['champion']} ({line['winner']}); "
          f"{line.get('gto') or ''}")
    return EXIT_OK


def _check_cron(cron: str) -> None:
    """Refuse a cron expression Prefect's schedule would reject, before anything starts."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=cron)
    except ValidationError:
        raise UsageError(f"--cron {cron!r}: not a valid cron expression (5 fields: minute hour "
                         "day month weekday), e.g. '0 3 * * *'") from None


def cmd_serve(args: argparse.Namespace) -> int:
    _check_cron(args.cron)
    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    from flows.pipeline import build_deployment, compare_flow
    from flows.runtime.zombies import enable_zombie_detection
    from schemas.config import load_config

    if not PREFECT_API_URL.value():  # a temporary server would lose the schedule at exit
        raise UsageError("serve: schedules live on a Prefect server, and none is configured; "
                         "start one (`prefect server start`) and point PREFECT_API_URL at it "
                         "(e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api), then rerun.")
    deployment = build_deployment(load_config(args.params), args.name, args.cron)
    enable_zombie_detection(compare_flow.name)  # a run whose process died is marked Crashed
    serve(deployment)
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    from flows.app.server import AppOptions, serve

    token = args.token or os.environ.get("SEQARENA_APP_TOKEN") or None
    serve(AppOptions(root=args.root, host=args.host, port=args.port, token=token,
                     max_upload_mb=args.max_upload_mb, params=args.params))
    return EXIT_OK


def cmd_stage(args: argparse.Namespace) -> int:
    from flows.runs.folders import FolderLock
    from flows.runtime.procs import watch_parent
    from schemas.config import load_config
    from schemas.layout import Layout

    watch_parent()  # `dvc repro` killed: this stage stops too
    cfg = load_config(args.params)
    if args.name == "train" and args.model not in cfg.models:
        raise UsageError(f"stage train: --model must be one of {', '.join(cfg.models)}")
    if (Path(cfg.out_dir) / "latest").is_symlink():
        raise UsageError(f"out_dir {cfg.out_dir}: holds runs published by `seqarena compare` or "
                         "`validate` (its files are links into latest/); `seqarena stage` "
                         "(dvc repro) writes its files in place, so give the DVC pipeline "
                         "its own out_dir in params.yaml.")
    layout = Layout(Path(cfg.out_dir))  # dvc repro: the stages write in place
    with FolderLock(layout.root, f"stage {args.name}"):
        stage = importlib.import_module(f"flows.stages.{args.name}.stage")  # only this stage
        if args.name == "train":
            stage.run(cfg, layout, args.model)
        else:
            stage.run(cfg, layout)  # each stage module's run(): its function, its sections
    return EXIT_OK


class StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (which tests and wrappers may swap)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def _setup_logging(argv: list[str], debug: bool) -> None:
    """Our progress lines on stderr. Set before Prefect is imported (workers inherit it)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network needed
    os.environ.setdefault("DO_NOT_TRACK", "1")  # nor Prefect's client telemetry (in a terminal)
    if "serve" not in argv and not debug:
        # a failed task would print its traceback; our own message says what to do
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("seqarena")
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command, map errors to docs/contracts.md exit codes."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _setup_logging(argv, debug)
    handle_sigterm()
    if parent := os.environ.get("SEQARENA_PARENT_PID"):  # started by `seqarena app`
        from flows.runtime.procs import watch_parent

        watch_parent(int(parent))  # the app stopped: this run stops too
    commands = {"validate": cmd_validate, "compare": cmd_compare, "predict": cmd_predict,
                "export": cmd_export, "serve": cmd_serve, "stage": cmd_stage,
                "history": cmd_history, "report": cmd_report, "promote": cmd_promote,
                "app": cmd_app}
    try:
        args = build_parser().parse_args(argv)
        return commands[args.command](args)
    except SeqarenaError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("terminated (SIGTERM): the run stopped; nothing was published", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: the run stopped; nothing was published", file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
