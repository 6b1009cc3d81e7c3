"""The run screen: start `seqarena compare`, watch every training, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from flows.app.jobs import error_of, log_tail, run_folder, stage, trainings
from flows.app.pages import Context, ctx, form_of
from flows.app.projects import APP, Refused, upload_of
from flows.app.settings import read_settings

router = APIRouter()


@router.post("/p/{name}/run")
async def post_run(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    await form_of(request)
    data = upload_of(project)
    if data is None:
        raise Refused(f"{name}: no uploaded file", 404)
    settings = read_settings(project / APP / "settings.json")
    c.jobs.start(project, "compare", [str(data), "--out", str(project), *c.args(),
                                      *settings.compare_args()])
    return RedirectResponse(f"/p/{name}/run", 303)


def status(c: Context, name: str) -> dict[str, object]:
    """What the run screen shows: the command's state, its stage, every training, the log."""
    project = c.project(name)
    state = c.jobs.state(project, "compare")
    if state is None:
        return {"state": "none", "trainings": [], "log": [], "stage": None, "error": None}
    log = log_tail(project, "compare")
    rows = trainings(run_folder(project, state))
    if state.running:
        word = "running"
    elif state.exit_code == 0:
        word = "finished"
    elif state.cancelled:
        word = "cancelled"
    elif state.exit_code in (-1, 130, 137, 143):
        word = "stopped (the app or the machine stopped it)"
    else:
        word = f"failed (exit {state.exit_code})"
    return {"state": word, "running": state.running, "stage": stage(log),
            "error": error_of(log), "log": log[-15:],
            "trainings": [r.model_dump() for r in rows],
            "steps": sum(r.step for r in rows), "budget": sum(r.max_steps for r in rows)}


@router.get("/p/{name}/run")
def run_page(request: Request, name: str) -> Response:
    c = ctx(request)
    return c.page(request, "run.html", name=name, s=status(c, name))


@router.get("/p/{name}/status.json")
def status_json(request: Request, name: str) -> Response:
    return JSONResponse(status(ctx(request), name), headers={"Cache-Control": "no-store"})


@router.post("/p/{name}/cancel")
async def cancel(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    await form_of(request)
    c.jobs.cancel(project)
    return RedirectResponse(f"/p/{name}/run", 303)
