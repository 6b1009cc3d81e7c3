"""`seqarena app`: upload → check → run → result → history, as server-rendered pages.

Every action is a command a person could type (flows/app/jobs.py runs `seqarena validate`,
`compare` and `predict` in child processes); rollback is `flows.runs.rollback.rollback`, the
function behind `seqarena promote --rollback`. Nothing here validates, trains or decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from flows.app import pages, results, runs
from flows.app.jobs import Jobs
from flows.app.projects import Refused
from flows.app.security import Csrf, Guard, TooLarge, loopback
from schemas.errors import UsageError

HERE = Path(__file__).parent


@dataclass(frozen=True)
class AppOptions:
    """How the app was started."""

    root: Path = Path("runs")
    host: str = "127.0.0.1"
    port: int = 8700
    token: str | None = None
    max_upload_mb: int = 512
    params: Path | None = None


def create_app(opts: AppOptions) -> Guard:
    """The web application over `opts.root` (its guards included)."""
    if not loopback(opts.host) and not opts.token:
        raise UsageError(f"--host {opts.host}: the app listens beyond this machine only with "
                         "an access token; pass --token or set SEQARENA_APP_TOKEN.")
    if opts.max_upload_mb < 1:
        raise UsageError("--max-upload-mb: give a whole number of megabytes, 1 or more")
    pages.base_config(opts.params)  # a bad params file is refused at start, not per page
    jobs, csrf = Jobs(), Csrf()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.stop_all()  # a run the app started stops with it, as a killed CLI run does

    app = FastAPI(title="seqarena", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.ctx = pages.Context(opts.root.resolve(), opts.params, jobs, csrf,
                                  Jinja2Templates(directory=HERE / "templates"),
                                  opts.max_upload_mb * 2**20)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages, runs, results):
        app.include_router(module.router)

    app.add_exception_handler(UsageError, refusal)  # Refused too: a UsageError with a status
    app.add_exception_handler(TooLarge, refusal)
    return Guard(app, opts.token, opts.host, opts.port, opts.max_upload_mb * 2**20, pages.CSP)


async def refusal(request: Request, exc: Exception) -> Response:
    """The page that says why: a refusal's own status, 409 for a usage error, 413 past a
    body limit."""
    if isinstance(exc, TooLarge):
        mb = request.app.state.ctx.max_upload // 2**20
        return pages.message(request, f"refused: the upload is larger than {mb} MB "
                             "(--max-upload-mb), or the form is not one of the app's", 413)
    return pages.message(request, str(exc), exc.status if isinstance(exc, Refused) else 409)


def serve(opts: AppOptions) -> None:
    """Run the app until Ctrl-C (uvicorn, one process)."""
    import uvicorn

    app = create_app(opts)
    where = f"http://{'[' + opts.host + ']' if ':' in opts.host else opts.host}:{opts.port}/"
    print(f"seqarena app: {where}  (projects in {opts.root}/; Ctrl-C stops it and its runs)")
    if opts.token:
        print("an access token is required: open the address with ?token=TOKEN once")
    uvicorn.run(app, host=opts.host, port=opts.port, log_level="warning")
