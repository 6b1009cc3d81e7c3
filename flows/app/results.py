"""The result and history screens: the report, the leaderboard, the decision, downloads,
predictions with the champion, and rollback."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask

from flows.app import upload
from flows.app.jobs import error_of
from flows.app.pages import Context, base_config, ctx, form_of
from flows.app.projects import APP, Refused, inside, safe_filename
from flows.report.view import Board, board
from flows.runs.folders import champion_of
from flows.runs.rollback import rollback, versions
from schemas.artifacts import Decision, Metrics, read
from schemas.errors import UsageError
from schemas.history import read_history, who
from schemas.layout import Layout

router = APIRouter()
FILES = {"report.html": "text/html", "report.md": "text/markdown", "metrics.json":
         "application/json", "decision.json": "application/json", "leaderboard.csv": "text/csv",
         "validation.md": "text/markdown", "quarantine.csv": "text/csv"}
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'self'; form-action 'none'; base-uri 'none'; sandbox")
PREDICT_TIMEOUT_S = 600
PREDICTING = 2  # predictions at once; more wait their turn, holding no worker thread


def decision_of(project: Path) -> Decision | None:
    try:
        return read(Decision, Layout(project).decision)
    except (OSError, UsageError, ValidationError):
        return None


def leaderboard(project: Path, decision: Decision | None) -> Board | None:
    """The report's leaderboard view (the terminal's compact one)."""
    try:
        metrics = read(Metrics, Layout(project).metrics)
    except (OSError, UsageError, ValidationError):
        return None
    return board(metrics.rows(), metrics.task, decision, compact=True) if decision else None


@router.get("/p/{name}/result")
def result(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    try:
        champion = champion_of(project)
    except UsageError:
        champion = None
    decision = decision_of(project)
    return c.page(request, "result.html", name=name, decision=decision,
                  board=leaderboard(project, decision),
                  champion=champion.name if champion else None,
                  has_report=Layout(project).report_html.exists())


@router.get("/p/{name}/files/{file}")
def files(request: Request, name: str, file: str) -> Response:
    project = ctx(request).project(name)
    if file not in FILES or not (project / file).exists():
        raise Refused(f"{file}: no such file in {name}", 404)
    path = inside(project, project / file)
    if file == "report.html":
        return FileResponse(path, media_type="text/html",
                            headers={"Content-Security-Policy": REPORT_CSP})
    return FileResponse(path, media_type=FILES[file], filename=f"{name}-{file}")


@router.get("/p/{name}/model.zip")
def model_zip(request: Request, name: str) -> Response:
    project = ctx(request).project(name)
    version = champion_of(project)
    if version is None:
        raise Refused(f"{name}: no promoted model yet", 404)
    fd, tmp = tempfile.mkstemp(prefix="seqarena-model-", suffix=".zip")  # not in memory
    with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(version.rglob("*")):
            if path.is_file() and not path.is_symlink():
                z.write(path, f"{version.name}/{path.relative_to(version).as_posix()}")
    return FileResponse(tmp, media_type="application/zip",
                        filename=f"{name}-{version.name}.zip",
                        background=BackgroundTask(os.unlink, tmp))


def predicting(request: Request) -> anyio.CapacityLimiter:
    """This app's limit of predictions at once (made on first use, in its event loop)."""
    state = request.app.state
    if not hasattr(state, "predicting"):
        state.predicting = anyio.CapacityLimiter(PREDICTING)
    return state.predicting


def run_predict(c: Context, project: Path, data: Path, out: Path) -> str | None:
    """`seqarena predict DATA --from PROJECT --out OUT`; its error line, or None."""
    env = {**os.environ, "SEQARENA_PARENT_PID": str(os.getpid()),
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    done = subprocess.run(  # our own CLI, arguments as a list
        [sys.executable, "-m", "flows.cli", "predict", str(data), "--from", str(project),
         "--out", str(out)], capture_output=True, text=True, env=env,
        timeout=PREDICT_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return error_of(lines) or f"seqarena predict failed (exit {done.returncode})"


@router.post("/p/{name}/predict")
async def predict(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    c.csrf.check(request)
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if file is None or isinstance(file, str) or not file.filename:
        raise Refused("no file was chosen: pick the CSV, CSV.gz or Parquet file to predict")
    ident, safe = secrets.token_hex(8), safe_filename(file.filename)  # the type first
    folder = project / APP / "predict" / ident
    folder.mkdir(parents=True)
    data = folder / safe
    try:
        with data.open("wb") as out:
            while chunk := await file.read(upload.CHUNK):
                out.write(chunk)
        upload.sniff(data, file.filename)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    error = await anyio.to_thread.run_sync(run_predict, c, project, data,
                                           folder / "predictions.csv", limiter=predicting(request))
    return c.page(request, "predicted.html", 422 if error else 200, name=name, error=error,
                  ident=ident, file=file.filename)


@router.get("/p/{name}/predictions/{ident}")
def predictions(request: Request, name: str, ident: str) -> Response:
    project = ctx(request).project(name)
    if not (len(ident) == 16 and all(ch in "0123456789abcdef" for ch in ident)):
        raise Refused("no such predictions", 404)
    path = project / APP / "predict" / ident / "predictions.csv"
    if not path.exists():
        raise Refused("no such predictions", 404)
    return FileResponse(inside(project, path), media_type="text/csv",
                        filename=f"{name}-predictions.csv")


@router.get("/p/{name}/history")
def history(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    lines, broken = read_history(project)
    rows = [{**line, "who": who(line)} for line in lines]
    try:
        champion = champion_of(project)
    except UsageError:
        champion = None
    return c.page(request, "history.html", name=name, rows=rows, broken=broken,
                  versions=versions(project), champion=champion.name if champion else None)


@router.post("/p/{name}/rollback")
async def post_rollback(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    form = await form_of(request)
    version = str(form.get("version") or "") or None
    await run_in_threadpool(rollback, project, version,  # GTO and git may take seconds
                            base_config(c.params).promote.gto_artifact)
    return RedirectResponse(f"/p/{name}/history", 303)
