"""The app's first screens: projects, upload, check (the validation report and the form)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from flows.app import upload
from flows.app.jobs import Jobs, error_of, log_tail
from flows.app.projects import APP, Refused, project_dir, projects, upload_of
from flows.app.security import Csrf
from flows.app.settings import (
    Settings,
    from_form,
    policy_choices,
    preset_text,
    read_settings,
    write_settings,
)
from schemas.artifacts import ValidationReport, read_validation
from schemas.config import Config, load_config
from schemas.errors import UsageError
from schemas.layout import Layout

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
router = APIRouter()


@dataclass(frozen=True)
class Context:
    """What every page needs: the projects folder, the params, the jobs, the templates."""

    root: Path
    params: Path | None
    jobs: Jobs
    csrf: Csrf
    templates: Jinja2Templates
    max_upload: int

    def project(self, name: str) -> Path:
        return project_dir(self.root, name)

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        return self.templates.TemplateResponse(request, template, {
            "csrf": self.csrf.token, **values}, status_code=status)

    def args(self) -> list[str]:
        """The options every command gets: the app's params file, if any."""
        return ["--params", str(self.params.resolve())] if self.params else []


def ctx(request: Request) -> Context:
    return request.app.state.ctx


@cache
def base_config(params: Path | None) -> Config:
    """The params every project starts from (read once)."""
    return load_config(params)


def message(request: Request, text: str, status: int) -> Response:
    """A page that says why a request was refused."""
    return ctx(request).page(request, "message.html", status, text=text)


async def form_of(request: Request) -> dict[str, Any]:
    """The request's form fields, the CSRF token checked."""
    form = {k: v for k, v in (await request.form()).items()}
    ctx(request).csrf.check(request, form)
    return form


def start_validate(c: Context, project: Path, settings: Settings) -> None:
    """`seqarena validate` on the project's upload, with its settings."""
    data = upload_of(project)
    if data is None:
        raise Refused(f"{project.name}: no uploaded file", 404)
    c.jobs.start(project, "validate", [str(data), "--out", str(project), *c.args(),
                                       *settings.data_args()])


@router.get("/")
def home(request: Request) -> Response:
    c = ctx(request)
    return c.page(request, "projects.html", projects=projects(c.root), root=c.root,
                  max_mb=c.max_upload // 2**20)


@router.post("/upload")
async def post_upload(request: Request) -> Response:
    c = ctx(request)
    c.csrf.check(request)  # in the query: checked before the body is read
    project = await upload.receive(request, c.root, c.max_upload)
    start_validate(c, project, Settings())
    return RedirectResponse(f"/p/{project.name}/check", 303)


def validation_of(project: Path) -> ValidationReport | None:
    """The project's latest published validation report."""
    try:
        return read_validation(Layout(project))
    except (OSError, UsageError, ValidationError):
        return None


@router.get("/p/{name}/check")
def check(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    state = c.jobs.state(project, "validate")
    running = bool(state and state.running)
    log = log_tail(project, "validate") if state else []
    report = None if running else validation_of(project)
    found = [ch for ch in (report.checks if report else []) if ch.get("action") != "passed"]
    cfg = base_config(c.params)
    return c.page(request, "check.html", name=name, data=upload_of(project), state=state,
                  running=running, error=None if running else error_of(log), report=report,
                  found=found, settings=read_settings(project / APP / "settings.json"),
                  models=list(cfg.models), policies=policy_choices(), presets=preset_text(),
                  set_aside=((report.model_extra or {}).get("quarantine") or {}).get("rows", 0)
                  if report else 0)


@router.post("/p/{name}/check")
async def post_check(request: Request, name: str) -> Response:
    c = ctx(request)
    project = c.project(name)
    form = await form_of(request)
    try:
        settings = from_form(form, list(base_config(c.params).models))
    except ValueError as exc:
        raise Refused(f"the form: {exc}") from None
    start_validate(c, project, settings)  # refused while busy: nothing saved then
    write_settings(project / APP / "settings.json", settings)
    return RedirectResponse(f"/p/{name}/check", 303)
