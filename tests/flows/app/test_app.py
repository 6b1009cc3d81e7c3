"""`seqarena app` through FastAPI's TestClient: every refusal (size, type, unreadable, path
traversal, CSRF, busy folder, token off loopback, Host), escaping, uploads that share a name,
and a check that runs the CLI's validation and shows its message."""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flows.app.projects import safe_filename
from flows.app.server import AppOptions, create_app
from flows.app.settings import Settings
from flows.runs.folders import FolderLock
from schemas.errors import UsageError

URL = "http://127.0.0.1:8700"


def client(root: Path, **opts: object) -> TestClient:
    return TestClient(create_app(AppOptions(root=root, **opts)), base_url=URL)  # type: ignore[arg-type]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path / "runs", max_upload_mb=1) as c:
        yield c


def csrf(c: TestClient) -> str:
    found = re.search(r'csrf=([A-Za-z0-9_-]+)"', c.get("/").text)
    assert found
    return found.group(1)


def upload(c: TestClient, name: str, body: bytes, token: str | None = None) -> object:
    token = csrf(c) if token is None else token
    return c.post(f"/upload?csrf={token}", files={"file": (name, body)},
                  follow_redirects=False)


def wait_job(c: TestClient, project: Path, timeout: float = 120) -> None:
    jobs = c.app.app.state.ctx.jobs  # the FastAPI app inside the Guard
    deadline = time.monotonic() + timeout
    while (s := jobs.state(project)) is None or s.running:
        assert time.monotonic() < deadline, "the command did not end"
        time.sleep(0.2)


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(app: TestClient,
                                                                tmp_path: Path) -> None:
    r = upload(app, "big.csv", b"a,b\n" + b"1,2\n" * 400_000)  # 1.6 MB > 1 MB
    assert r.status_code == 413
    assert "larger than 1 MB" in r.text
    assert not list((tmp_path / "runs").glob("big*"))


@pytest.mark.parametrize(("name", "body", "status", "words"), [
    ("notes.txt", b"a,b\n1,2\n", 415, "not a data file"),
    ("table.xlsx", b"PK\x03\x04", 415, "not a data file"),
    ("data.parquet", b"a,b\n1,2\n", 422, "not a Parquet file"),
    ("data.csv.gz", b"a,b\n1,2\n", 422, "not gzip-compressed"),
    ("data.csv", b"\x00\x01\x02binary", 422, "binary data"),
    ("data.csv", b"caf\xe9,b\n1,2\n", 422, "not UTF-8"),
    ("data.csv", b"", 400, "empty"),
])
def test_files_that_are_not_data_are_refused_with_the_reason(
        app: TestClient, tmp_path: Path, name: str, body: bytes, status: int,
        words: str) -> None:
    r = upload(app, name, body)
    assert r.status_code == status, r.text
    assert words in r.text
    assert not [p for p in (tmp_path / "runs").glob("*") if not p.name.startswith(".")]


def test_a_gzipped_csv_is_kept_under_a_safe_name(app: TestClient, tmp_path: Path,
                                                 forecast_csv: Path) -> None:
    assert safe_filename("../../etc/x y.csv.gz") == "x_y.csv.gz"
    assert safe_filename(".hidden.csv") == "hidden.csv"
    r = upload(app, "../../my sales.csv.gz", gzip.compress(forecast_csv.read_bytes()))
    assert r.status_code == 303 and r.headers["location"] == "/p/my_sales/check"
    project = tmp_path / "runs" / "my_sales"
    assert (project / ".app/upload/my_sales.csv.gz").exists()
    wait_job(app, project)
    assert "Valid" in app.get("/p/my_sales/check").text


@pytest.mark.parametrize("path", [
    "/p/..%2F..%2Fetc/check", "/p/../check", "/p/.app/result", "/p/x/files/..%2F.lock",
    "/p/x/files/weights.safetensors", "/p/x/predictions/..%2F..%2Fjob.json",
])
def test_paths_outside_a_project_are_not_served(app: TestClient, tmp_path: Path,
                                                 path: str) -> None:
    (tmp_path / "runs" / "x").mkdir(parents=True)
    assert app.get(path).status_code == 404


def test_a_project_linked_out_of_the_root_is_not_served(app: TestClient,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "report.md").write_text("secret")
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "evil").symlink_to(outside)
    assert app.get("/p/evil/files/report.md").status_code == 404
    assert "evil" not in app.get("/").text


@pytest.mark.parametrize("route", ["/p/x/run", "/p/x/cancel", "/p/x/check", "/p/x/rollback",
                                   "/p/x/predict", "/upload"])
def test_a_post_without_the_csrf_token_is_refused(app: TestClient, tmp_path: Path,
                                                  route: str) -> None:
    (tmp_path / "runs" / "x").mkdir(parents=True)
    assert app.post(route, data={"csrf": "forged"}).status_code == 403
    assert app.post(route).status_code == 403


def test_two_uploads_of_one_name_become_two_projects(app: TestClient, tmp_path: Path,
                                                     forecast_csv: Path) -> None:
    body = forecast_csv.read_bytes()
    first, second = upload(app, "sales.csv", body), upload(app, "sales.csv", body)
    assert first.headers["location"] == "/p/sales/check"
    assert second.headers["location"] == "/p/sales-2/check"
    for name in ("sales", "sales-2"):
        wait_job(app, tmp_path / "runs" / name)
        assert (tmp_path / "runs" / name / ".app/upload/sales.csv").read_bytes() == body


def test_a_user_string_in_a_page_is_escaped(app: TestClient, tmp_path: Path) -> None:
    r = upload(app, "<script>alert(1)</script>.txt", b"x")
    assert r.status_code == 415
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text
    settings = tmp_path / "runs" / "p" / ".app"
    settings.mkdir(parents=True)
    (settings / "settings.json").write_text(
        Settings(target="<img src=x onerror=alert(1)>").model_dump_json())
    page = app.get("/p/p/check").text
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_a_busy_folder_is_refused_with_the_clis_message(app: TestClient, tmp_path: Path,
                                                        forecast_csv: Path) -> None:
    upload(app, "f.csv", forecast_csv.read_bytes())
    project = tmp_path / "runs" / "f"
    wait_job(app, project)
    with FolderLock(project, "compare"):  # as `seqarena compare --out runs/f` would
        r = app.post("/p/f/run", data={"csrf": csrf(app)}, follow_redirects=False)
    assert r.status_code == 409
    assert "this output folder is in use by another seqarena run" in r.text
    assert "compare" in r.text


def test_off_loopback_the_app_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--token"):
        create_app(AppOptions(root=tmp_path, host="0.0.0.0"))
    app = create_app(AppOptions(root=tmp_path, host="0.0.0.0", token="s3cret-t0ken"))
    with TestClient(app, base_url="http://seqarena.example:8700") as c:
        assert c.get("/").status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer s3cret-t0ken"}).status_code == 200
        r = c.get("/?token=s3cret-t0ken", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/").status_code == 200  # the cookie from now on


def test_on_loopback_an_unknown_host_header_is_refused(app: TestClient) -> None:
    """No DNS rebinding: a page of another site that resolves to 127.0.0.1 gets nothing."""
    assert app.get("/", headers={"host": "attacker.example:8700"}).status_code == 421
    assert app.get("/", headers={"host": "localhost:8700"}).status_code == 200


def test_bad_data_shows_the_clis_message_and_the_quarantined_rows(
        app: TestClient, tmp_path: Path, forecast_csv: Path) -> None:
    text = forecast_csv.read_text().splitlines()
    text[5] = re.sub(r",[^,]*,([^,]*)$", r",oops,\1", text[5])  # y of one row is text
    r = upload(app, "bad.csv", "\n".join(text).encode())
    project = tmp_path / "runs" / "bad"
    wait_job(app, project)
    page = app.get(r.headers["location"]).text
    assert "Not valid" in page and "error: " in page and "oops" in page
    assert "column &#39;y&#39;: 1 row(s) with values that are not numbers, at line 6" in page
    assert "not_numeric" in page and "quarantine.csv" in page
    form = {"csrf": csrf(app), "policy_not_numeric": "quarantine", "policy_gaps": "fix",
            "references": "on", "model_lstm": "on", "season": "7", "lookback": "14"}
    assert app.post("/p/bad/check", data=form, follow_redirects=False).status_code == 303
    wait_job(app, project)
    page = app.get("/p/bad/check").text
    assert "Valid</span>" in page and "1 quarantined, 1 inserted" in page
    assert "oops" in app.get("/p/bad/files/quarantine.csv").text
    settings = Settings.model_validate_json((project / ".app/settings.json").read_text())
    assert settings.policy == {"not_numeric": "quarantine", "gaps": "fix"}
    assert settings.models == ["lstm"]
    assert (settings.season, settings.lookback) == (7, 14)
    flat = re.sub(r"\s+", "", page)
    assert "<th>season</th><td>7</td>" in flat and "<th>lookback</th><td>14</td>" in flat
    args = settings.compare_args()
    assert args[args.index("--lookback") + 1] == "14" and "--models" in args


def test_a_relative_root_keeps_track_of_the_check_it_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forecast_csv: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with client(Path("runs")) as c:  # the default --root is relative
        assert upload(c, "sales.csv", forecast_csv.read_bytes()).status_code == 303
        project = (tmp_path / "runs" / "sales").resolve()
        state = c.app.app.state.ctx.jobs.state(project)
        assert state is not None and state.running
        assert "Checking the data" in c.get("/p/sales/check").text
        again = c.post("/p/sales/check", data={"csrf": csrf(c)}, follow_redirects=False)
        assert again.status_code == 409 and "Wait for it to finish" in again.text
        wait_job(c, project)
        assert "Valid</span>" in c.get("/p/sales/check").text


def test_a_link_inside_a_project_is_refused(app: TestClient, tmp_path: Path,
                                            forecast_csv: Path) -> None:
    upload(app, "sales.csv", forecast_csv.read_bytes())
    project = tmp_path / "runs" / "sales"
    wait_job(app, project)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (project / ".app" / "validate.log").unlink()
    (project / ".app" / "validate.log").symlink_to(victim)
    r = app.post("/p/sales/check", data={"csrf": csrf(app)})
    assert r.status_code == 404 and "is a link" in r.text
    assert victim.read_text() == "keep me"


def test_an_option_like_file_name_still_makes_a_project(app: TestClient,
                                                        forecast_csv: Path) -> None:
    r = upload(app, "--help.csv", forecast_csv.read_bytes())
    assert r.headers["location"] == "/p/help/check"
    r = upload(app, "-.csv", forecast_csv.read_bytes())
    assert r.headers["location"] == "/p/data/check"


def test_a_chunked_upload_over_the_limit_is_refused_with_413(app: TestClient) -> None:
    boundary = "b0undary"

    def body() -> Iterator[bytes]:  # no Content-Length: the Guard counts as it reads
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               "filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
        for _ in range(40):
            yield b"1,2\n" * 16384  # 64 KiB a chunk, 2.5 MB in all
        yield f"\r\n--{boundary}--\r\n".encode()

    r = app.post(f"/upload?csrf={csrf(app)}", content=body(),
                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "larger than 1 MB" in r.text


def test_a_large_form_is_refused_before_it_is_read(app: TestClient, tmp_path: Path) -> None:
    (tmp_path / "runs" / "x").mkdir(parents=True)
    r = app.post("/p/x/check", data={"csrf": "forged", "pad": "x" * 400_000})
    assert r.status_code == 413
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_token_redirect_stays_on_this_site(tmp_path: Path) -> None:
    from starlette.requests import Request

    guard = create_app(AppOptions(root=tmp_path, host="0.0.0.0", token="t0ken-t0ken"))
    scope = {"type": "http", "method": "GET", "path": "//evil.example/x", "headers": [],
             "query_string": b"token=t0ken-t0ken", "server": ("seqarena.example", 8700),
             "scheme": "http", "root_path": ""}  # a raw path no HTTP client sends as such
    answer = guard._refusal(Request(scope), 1000)  # type: ignore[attr-defined]
    assert answer.status_code == 303 and answer.headers["location"] == "/evil.example/x"


def test_on_port_80_a_host_without_a_port_is_ours(tmp_path: Path) -> None:
    with TestClient(create_app(AppOptions(root=tmp_path, port=80)),
                    base_url="http://localhost") as c:
        assert c.get("/").status_code == 200


def test_damaged_app_files_do_not_break_the_pages(app: TestClient, tmp_path: Path) -> None:
    project = tmp_path / "runs" / "p"
    (project / ".app").mkdir(parents=True)
    (project / ".app" / "settings.json").write_text('{"unknown": 1}')
    (project / ".app" / "compare.json").write_text("{broken")
    (project / "versions" / "v0001").mkdir(parents=True)
    (project / "versions" / "v0001" / "decision.json").write_text("[1, 2]")
    (project / "promoted").symlink_to("versions/v0001")
    (project / "history.jsonl").write_text('{"time": 20261207, "event": "compare"}\n')
    for page in ("/", "/p/p/check", "/p/p/run", "/p/p/result", "/p/p/history"):
        assert app.get(page).status_code == 200, page
    assert "v0001 (?)" in app.get("/").text
