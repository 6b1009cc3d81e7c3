"""A person in a real browser (Debian's headless Chromium, driven by Playwright): upload the
demo forecast file, change the horizon, start a tiny comparison, watch progress move, read
the leaderboard and the decision, download the model, predict, run again and roll back.

With SEQARENA_APP_SHOTS=DIR set, each screen's screenshot is saved there (the README's
pictures: SEQARENA_APP_SHOTS=docs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import chromium

pytestmark = pytest.mark.slow  # a browser, an app server and two compares
ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "data" / "forecast.csv"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9"]  # nothing leaves the machine
RUN_S = 420_000  # ms: one tiny compare, CLI start-up included, on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """`seqarena app` in its own process; the second run must be able to promote again."""
    if not DEMO.exists():
        pytest.fail(f"{DEMO} is missing: `dvc pull data.dvc` fetches the demo data")
    params = tmp_path / "params.yaml"
    params.write_text("promote:\n  challenge: false\n  gto_artifact: null\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "app", "--root",
                             str(tmp_path / "runs"), "--port", str(port), "--params",
                             str(params)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(60)


def shot(page: object, name: str) -> None:
    """Save the screen as the README shows it, when asked to."""
    folder = os.environ.get("SEQARENA_APP_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"app-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def run_to_the_result(page: object) -> None:
    """From the check page: start the comparison, see a training move, reach the result."""
    page.click("#start")  # type: ignore[attr-defined]
    page.wait_for_selector("#trainings tbody tr", timeout=RUN_S)  # type: ignore[attr-defined]
    page.wait_for_selector("#to-result", timeout=RUN_S)  # type: ignore[attr-defined]
    page.click("#to-result")  # type: ignore[attr-defined]
    page.wait_for_selector("#decision")  # type: ignore[attr-defined]


def test_a_person_goes_from_the_demo_csv_to_a_promoted_model(app_url: str,
                                                             tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(app_url)
        page.set_input_files("#file", str(DEMO))
        page.click("#upload")
        page.wait_for_selector("#report", timeout=120_000)  # the check ran and reloaded
        assert "Valid" in page.inner_text("#report h2")
        assert "unique_id" in page.inner_text("#report") and "1 day" in page.inner_text("#report")

        page.fill("#horizon", "5")
        for box in page.query_selector_all("input[name^=model_]"):
            if box.get_attribute("name") not in ("model_lstm", "model_linear"):
                box.uncheck()
        page.fill("#steps", "150")
        page.fill("input[name=seeds]", "1")
        page.fill("input[name=folds]", "1")
        page.uncheck("input[name=references]")
        page.click("#recheck")
        page.wait_for_selector("#start", timeout=120_000)
        assert page.input_value("#horizon") == "5"
        shot(page, "check")

        page.click("#start")
        page.wait_for_selector("#trainings tbody tr", timeout=RUN_S)
        first = page.inner_text("#trainings tbody")
        deadline = time.monotonic() + RUN_S / 1000
        while page.inner_text("#trainings tbody") == first:  # the progress moves (the page's
            assert time.monotonic() < deadline  # CSP keeps Playwright's eval out: poll here)
            page.wait_for_timeout(250)
        shot(page, "run")
        again = browser.new_context().new_page()  # the browser closed and opened again
        again.goto(f"{app_url}/p/forecast/run")
        assert again.inner_text("#state") in ("running", "finished")
        assert "lstm/fold-0/seed-0" in again.inner_text("#trainings") or \
            again.inner_text("#state") == "finished"
        page.wait_for_selector("#to-result", timeout=RUN_S)
        page.click("#to-result")
        page.wait_for_selector("#decision")
        rows = page.inner_text("#leaderboard")
        assert "lstm" in rows and "linear" in rows and "seasonal_naive" in rows
        assert "Promoted:" in page.inner_text("#decision h2")
        assert "horizon 5" in page.frame_locator("#report").locator("body").inner_text()
        shot(page, "result")

        with page.expect_download() as download:
            page.click("#download-model")
        saved = tmp_path / "model.zip"
        download.value.save_as(saved)
        with zipfile.ZipFile(saved) as z:
            assert {"v0001/weights.safetensors", "v0001/model.json"} <= set(z.namelist())

        page.set_input_files("#predict-file", str(DEMO))
        page.click("#predict")
        page.wait_for_selector("#predictions", timeout=120_000)
        with page.expect_download() as download:
            page.click("#predictions")
        download.value.save_as(tmp_path / "predictions.csv")
        assert (tmp_path / "predictions.csv").read_text().count("\n") > 8  # 8 stores x 5 days
        page.goto(f"{app_url}/p/forecast/check")
        run_to_the_result(page)  # a second comparison: v0002

        page.goto(f"{app_url}/p/forecast/history")
        assert page.inner_text("#champion") == "v0002"
        page.click("#rollback")  # back to the one before
        page.wait_for_selector("#history")
        assert page.inner_text("#champion") == "v0001"
        assert "rollback" in page.inner_text("#history")
        shot(page, "history")
        page.goto(app_url)
        assert "v0001" in page.inner_text("#projects")
        shot(page, "projects")
        browser.close()
