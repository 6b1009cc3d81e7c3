"""`seqarena` command line: validate, compare, predict, serve, and the DVC stage entry."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from flows.procs import Terminated, handle_sigterm
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

STAGES = ("validate", "preprocess", "train", "evaluate", "promote")


class Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a one-line message (docs/contracts.md)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="CSV, CSV.gz or Parquet file in long format")
    p.add_argument("--params", type=Path, help="a params.yaml to start from")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set train.max_steps=500 (repeatable)")
    p.add_argument("--task", choices=["forecast", "classify"])
    for role in ("id", "time", "target", "label", "split"):
        p.add_argument(f"--{role}", metavar="COLUMN", help=f"name of the {role} column")
    p.add_argument("--features", metavar="A,B", help="comma-separated feature columns")
    p.add_argument("--out", type=Path, help="output folder (default runs/<data name>)")


def build_parser() -> Parser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="seqarena", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _data_options(sub.add_parser("validate", help="validate a data file and write the report"))
    compare = sub.add_parser("compare", help="validate, train, evaluate and promote")
    _data_options(compare)
    compare.add_argument("--models", metavar="A,B", help="subset of the configured models")
    compare.add_argument("--steps", type=int, help="train.max_steps (optimizer steps)")
    compare.add_argument("--epochs", type=int, help="train.max_epochs (caps passes over the data)")
    compare.add_argument("--seed", type=int, help="train.seed (the first seed)")
    compare.add_argument("--seeds", type=int, help="train.seeds (trainings per model and fold)")
    compare.add_argument("--folds", type=int, help="forecast.folds (rolling origins)")
    predict = sub.add_parser("predict", help="predict with a promoted model")
    predict.add_argument("data", type=Path)
    predict.add_argument("--model", type=Path, required=True, help="a promoted/ folder")
    predict.add_argument("--out", type=Path, default=Path("predictions.csv"))
    serve = sub.add_parser("serve", help="serve a scheduled comparison (needs a Prefect server)")
    serve.add_argument("--params", type=Path, default=Path("params.yaml"))
    serve.add_argument("--cron", default="0 3 * * *", help="cron schedule (default daily 03:00)")
    serve.add_argument("--name", default="seqarena-nightly")
    stage = sub.add_parser("stage", help="run one pipeline stage from params.yaml (for dvc)")
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--params", type=Path, default=Path("params.yaml"))
    stage.add_argument("--model", help="model name, for the train stage")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from flows.validation.read import run_name

    out: dict[str, Any] = {"data.path": str(args.data)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item}: expected KEY=VALUE, e.g. train.max_steps=500")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:  # e.g. data.delimiter=, is plain text, not YAML
            out[key] = value
    if args.task:
        out["data.task"] = args.task
    for role in ("id", "time", "target", "label", "split"):
        if getattr(args, role):
            out[f"data.columns.{role}"] = getattr(args, role)
    if args.features:
        out["data.columns.features"] = args.features.split(",")
    out["out_dir"] = str(args.out or Path("runs") / run_name(args.data))
    for opt, key in (("steps", "train.max_steps"), ("epochs", "train.max_epochs"),
                     ("seed", "train.seed"), ("seeds", "train.seeds"),
                     ("folds", "forecast.folds")):
        if getattr(args, opt, None) is not None:
            out[key] = getattr(args, opt)
    return out


def _config(args: argparse.Namespace) -> Config:
    """The typed config: --params file, then options; --models picks a subset."""
    from schemas.config import load_config

    cfg = load_config(args.params, _overrides(args))
    if getattr(args, "models", None):
        names = args.models.split(",")
        unknown = [n for n in names if n not in cfg.models]
        if unknown:
            raise UsageError(f"--models: unknown {unknown}; configured: {', '.join(cfg.models)}")
        cfg = cfg.model_copy(update={"models": {n: cfg.models[n] for n in names}})
    return cfg


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.runs import RunFolder
    from flows.validate import validate
    from schemas.artifacts import read_validation
    from schemas.layout import Layout

    cfg = _config(args)
    out = Path(cfg.out_dir)
    with RunFolder(out, "validate") as run:
        try:
            v = validate(cfg.model_copy(update={"out_dir": str(run.path)}))
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
    from flows.report import leaderboard_table, measured_markdown
    from schemas.artifacts import Decision, Metrics, read
    from schemas.layout import Layout

    start = time.perf_counter()
    result = run_compare(cfg)
    layout = Layout(Path(cfg.out_dir))
    metrics, decision = read(Metrics, layout.metrics), read(Decision, layout.decision)
    print()
    print(leaderboard_table(metrics.rows(), metrics.task, decision))
    print("\nYour data, measured:\n")
    print(measured_markdown(metrics.measured))
    print(f"\nPromoted: {decision.winner or 'none'}. {decision.reason}")
    print(f"Report: {layout.report}")
    if result["champion"]:
        kept = "" if decision.winner else " (the model promoted earlier stays)"
        print(f"Model:  {layout.promoted} -> {result['champion']}{kept}")
    print(f"Done in {time.perf_counter() - start:.1f} s.")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from flows.predict import predict_file

    frame = predict_file(args.data, args.model, args.out)
    print(f"{args.out}: {frame.height} predictions")
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

    from flows.pipeline import build_deployment, compare_flow
    from flows.zombies import enable_zombie_detection
    from schemas.config import load_config

    deployment = build_deployment(load_config(args.params), args.name, args.cron)
    enable_zombie_detection(compare_flow.name)  # a run whose process died is marked Crashed
    serve(deployment)
    return EXIT_OK


def cmd_stage(args: argparse.Namespace) -> int:
    from flows import evaluate, preprocess, promote, train, validate
    from flows.procs import watch_parent
    from flows.runs import FolderLock
    from schemas.config import load_config

    watch_parent()  # `dvc repro` killed: this stage stops too
    cfg = load_config(args.params)
    if args.name == "train" and args.model not in cfg.models:
        raise UsageError(f"stage train: --model must be one of {', '.join(cfg.models)}")
    if (Path(cfg.out_dir) / "latest").is_symlink():
        raise UsageError(f"out_dir {cfg.out_dir}: holds runs published by `seqarena compare` or "
                         "`validate` (its files are links into latest/); `seqarena stage` "
                         "(dvc repro) writes its files in place, so give the DVC pipeline "
                         "its own out_dir in params.yaml.")
    with FolderLock(Path(cfg.out_dir), f"stage {args.name}"):
        if args.name == "train":
            train.train_jobs(cfg, args.model)
        else:
            fn = {"validate": validate.validate, "preprocess": preprocess.preprocess,
                  "evaluate": evaluate.evaluate, "promote": promote.promote}[args.name]
            fn(cfg)
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
    commands = {"validate": cmd_validate, "compare": cmd_compare, "predict": cmd_predict,
                "serve": cmd_serve, "stage": cmd_stage}
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
