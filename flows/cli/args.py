"""The command line's arguments: the parser of every subcommand, and options as config keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas.config import PRESETS
from schemas.errors import UsageError

STAGES = ("validate", "preprocess", "train", "evaluate", "promote")
ABOUT = """seqarena: which sequence model serves your data best, with evidence.

Bring a time series to forecast or labelled sequences to classify: seqarena validates the
file, trains RNN, LSTM, GRU, hybrid and Transformer side by side with naive baselines and
references, measures accuracy and cost, promotes the winner only when the evidence supports
it, and writes a report to review. Start with `seqarena compare DATA`."""
EXAMPLES = {
    "validate": ["seqarena validate data/forecast.csv",
                 "seqarena validate sales.parquet --target units --horizon 14"],
    "compare": ["seqarena compare data/forecast.csv",
                "seqarena compare sales.csv --horizon 12 --season 12 --models lstm,gru",
                "seqarena compare data/classify.csv --seeds 3 --steps 2000 --out runs/cls",
                "seqarena compare data/forecast.csv --trials 8   # tune every model first"],
    "predict": ["seqarena predict new.csv --from runs/forecast --out forecasts.csv",
                "seqarena predict new.csv --model runs/forecast/versions/v0001"],
    "export": ["seqarena export --from runs/forecast      # into its champion's version folder",
               "seqarena export --from runs/forecast --out serving/forecast",
               "seqarena predict new.csv --from runs/forecast --engine onnx"],
    "report": ["seqarena report runs/forecast"],
    "history": ["seqarena history --out runs/forecast"],
    "promote": ["seqarena promote --rollback --out runs/forecast",
                "seqarena promote --rollback v0001 --out runs/forecast"],
    "serve": ["prefect server start &  # then: export PREFECT_API_URL=http://127.0.0.1:4200/api",
              "seqarena serve --params params.yaml --cron '0 3 * * *'"],
    "stage": ["seqarena stage validate --params params.yaml  # what dvc repro runs"],
    "app": ["seqarena app                      # http://127.0.0.1:8700, projects in ./runs",
            "seqarena app --root /srv/seqarena --host 0.0.0.0 --token \"$(openssl rand -hex 16)\""],
}


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
    p.add_argument("--horizon", type=int, help="forecast.horizon: steps forecast at once")
    p.add_argument("--season", type=int, help="forecast.season (default: from the time step)")
    p.add_argument("--lookback", type=int, help="forecast.lookback: input steps (default: "
                   "inferred)")
    p.add_argument("--out", type=Path, help="output folder (default runs/<data name>)")


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose help ends with its examples."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[name])
    return sub.add_parser(name, help=summary, description=summary, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> Parser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="seqarena", description=ABOUT,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _data_options(_command(sub, "validate", "validate a data file and write the report"))
    compare = _command(sub, "compare", "validate, train, evaluate and promote")
    _data_options(compare)
    compare.add_argument("--models", metavar="A,B", help="subset of the configured models")
    compare.add_argument("--steps", type=int, help="train.max_steps (optimizer steps)")
    compare.add_argument("--preset", choices=list(PRESETS), help="a budget: quick (1 seed, "
                         "1,000 steps), default (params as they are) or thorough (20 tuning "
                         "trials per model, 3 seeds, up to 3 folds); other options override it")
    compare.add_argument("--trials", type=int, help="train.tune.trials: hyper-parameter search "
                         "trials per model before training (0: none)")
    compare.add_argument("--compare-untuned", action="store_true", help="with --trials: also "
                         "train every model as configured and say whether tuning changed the "
                         "verdict (train.tune.compare_untuned)")
    compare.add_argument("--epochs", type=int, help="train.max_epochs (caps passes over the data)")
    compare.add_argument("--seed", type=int, help="train.seed (the first seed)")
    compare.add_argument("--seeds", type=int, help="train.seeds (trainings per model and fold)")
    compare.add_argument("--folds", type=_folds, help="forecast.folds: rolling origins, or auto")
    predict = _command(sub, "predict", "predict with a promoted model")
    predict.add_argument("data", type=Path)
    predict.add_argument("--model", type=Path, help="a model folder (promoted/ or "
                         "versions/vNNNN; default: the champion of --from)")
    predict.add_argument("--from", dest="source", type=Path, default=Path("results"),
                         help="an output folder whose champion predicts (default results)")
    predict.add_argument("--out", type=Path, default=Path("predictions.csv"))
    predict.add_argument("--engine", choices=("torch", "onnx"), default="torch",
                         help="torch: the weights in PyTorch; onnx: the folder's model.onnx "
                         "(`seqarena export`) in ONNX Runtime, without torch")
    export = _command(sub, "export", "export a model as ONNX, checked against PyTorch")
    export.add_argument("--from", dest="source", type=Path, default=Path("results"),
                        help="the output folder: its champion is exported (unless --model) and "
                        "its holdout test split checks parity (default results)")
    export.add_argument("--model", type=Path, help="a model folder trained on --from's data "
                        "(default: the champion of --from)")
    export.add_argument("--out", type=Path, help="a folder for model.onnx, onnx.json and the "
                        "JSON files predict needs (default: the model folder itself)")
    report = _command(sub, "report", "rebuild report.md and report.html of a run")
    report.add_argument("run", type=Path, help="an output folder (its latest run) or a run "
                        "folder (OUT/runs/ID)")
    history = _command(sub, "history", "print the promotion history of an output folder")
    history.add_argument("--out", type=Path, required=True, help="the output folder")
    promote = _command(sub, "promote", "change the champion by hand")
    promote.add_argument("--rollback", nargs="?", const="", metavar="VERSION", required=True,
                         help="restore VERSION (default: the champion before the current one)")
    promote.add_argument("--out", type=Path, required=True, help="the output folder")
    promote.add_argument("--params", type=Path, help="params.yaml (for promote.gto_artifact)")
    serve = _command(sub, "serve", "serve a scheduled comparison (needs a Prefect server)")
    serve.add_argument("--params", type=Path, default=Path("params.yaml"))
    serve.add_argument("--cron", default="0 3 * * *", help="cron schedule (default daily 03:00)")
    serve.add_argument("--name", default="seqarena-nightly")
    stage = _command(sub, "stage", "run one pipeline stage from params.yaml (for dvc)")
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--params", type=Path, default=Path("params.yaml"))
    stage.add_argument("--model", help="model name, for the train stage")
    app = _command(sub, "app", "a web app: upload data, check it, compare, review, roll back")
    app.add_argument("--root", type=Path, default=Path("runs"),
                     help="the projects folder: one output folder per upload (default runs)")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                     "127.0.0.1; any other needs --token)")
    app.add_argument("--port", type=int, default=8700)
    app.add_argument("--token", help="access token (or SEQARENA_APP_TOKEN); required off "
                     "loopback")
    app.add_argument("--max-upload-mb", type=int, default=512, help="largest upload accepted")
    app.add_argument("--params", type=Path, help="a params.yaml every project starts from")
    return parser


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    from flows.stages.validate.read import run_name

    out: dict[str, Any] = {**PRESETS[getattr(args, "preset", None) or "default"],
                           "data.path": str(args.data)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item}: expected KEY=VALUE, e.g. train.max_steps=500")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:  # e.g. data.delimiter=, is plain text, not YAML
            out[key] = value
    if getattr(args, "compare_untuned", False):
        out["train.tune.compare_untuned"] = True
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
                     ("trials", "train.tune.trials"),
                     ("folds", "forecast.folds"), ("horizon", "forecast.horizon"),
                     ("season", "forecast.season"), ("lookback", "forecast.lookback")):
        if getattr(args, opt, None) is not None:
            out[key] = getattr(args, opt)
    return out


def _folds(text: str) -> int | str:
    """--folds: a whole number or auto (the config checks the range)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number or auto") from None
