"""The postmortem notebook in a real JupyterLab, driven by chromium (``-m browser``).

Runs all cells of ``02-deathstar-postmortem.ipynb`` in a temporary copy of the notebooks and the
capture, checks that charts render, that an Explorer picker changes the view, that no cell
shows an error, and saves a multi-screen screenshot to ``test-artifacts/postmortem-jupyterlab.png``.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "kn-browser-test"
NB = "02-deathstar-postmortem.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _available() -> bool:
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not _available():
        pytest.skip("chromium or playwright missing")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO / "data" / "deathstar", root / "data" / "deathstar")
    (root / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / NB, root / "notebooks" / NB)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".jupyter" / "lab" / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".jupyter" / "lab" / "workspaces")}
    tracker = root / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    # every cell stays in the DOM (no virtual scrolling), so outputs can be counted
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    log = open(root / "lab.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root / 'notebooks'}",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root / "notebooks", env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("jupyter lab did not start: " + (root / "lab.log").read_text()[-2000:])
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _stitch(browser, shots: list[bytes], out: Path) -> None:
    """Stack the screen shots vertically into one PNG (chromium does the compositing)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    imgs = "".join(f'<img style="display:block;width:1400px" src="data:image/png;base64,{base64.b64encode(s).decode()}">'
                   for s in shots)
    page.set_content(f"<html><body style='margin:0'>{imgs}</body></html>")
    page.wait_for_load_state("load")
    page.screenshot(path=str(out), full_page=True)
    page.close()


def _dismiss(page) -> None:
    """Accept the kernel picker if JupyterLab shows it; decline the news notification."""
    from playwright.sync_api import TimeoutError as PWTimeout

    try:
        page.wait_for_selector(".jp-Dialog", timeout=8_000)
        page.locator(".jp-Dialog .jp-mod-accept").first.click()
    except PWTimeout:
        pass
    no = page.locator(".jp-Notification-Toast-Close, .jp-toast-button:has-text('No')")
    if no.count():
        no.first.click()


def test_postmortem_runs_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{lab}/lab/tree/{NB}?reset&token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        _dismiss(page)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        # Edit → Clear Outputs of All Cells (so what we see below is fresh), then Run → Run All Cells
        page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
        done = ".jp-OutputArea-output:has-text('all answers match TRUTH.json')"
        page.wait_for_selector(done, state="detached", timeout=30_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        # the last cell prints the checked answers; wait for it, then for the kernel to be idle
        page.wait_for_selector(done, timeout=150_000, state="attached")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)

        page.screenshot(path=str(ARTIFACTS / "postmortem-jupyterlab-top.png"))
        errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
        assert not tracebacks, tracebacks[:2]

        svgs = page.locator('.jp-RenderedSVG, [data-mime-type="image/svg+xml"]')
        assert svgs.count() >= 4  # timeline, process tree, attack flow, flow chart

        # the Explorer: interactive vega charts, and a picker that changes the view
        explorer = page.locator(".jp-OutputArea-output .widget-vbox").first
        explorer.scroll_into_view_if_needed()
        page.wait_for_selector(".vega-embed svg, .vega-embed canvas", timeout=60_000, state="attached")
        status = explorer.locator(".widget-html").first
        assert "none" in status.inner_text()
        chart = page.locator(".vega-embed").first
        before = chart.inner_html()
        select = explorer.locator(".widget-dropdown select").first  # the namespace picker
        options = [o for o in select.locator("option").all_inner_texts() if o.strip()]
        select.select_option(label=options[1])
        status_el = status.element_handle()
        page.wait_for_function("([el, v]) => el.innerText.includes(v)", arg=[status_el, options[1]],
                               timeout=60_000)
        page.wait_for_timeout(1500)  # let vega redraw
        assert chart.inner_html() != before, "the timeline did not change with the picker"
        explorer.screenshot(path=str(ARTIFACTS / "postmortem-explorer.png"))

        # several screens of the notebook, top to bottom, stitched into one PNG
        outer = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").first
        height = outer.evaluate("el => el.scrollHeight")
        view = outer.evaluate("el => el.clientHeight")
        shots = []
        for y in range(0, min(height, view * 12), view):
            outer.evaluate(f"el => el.scrollTo(0, {y})")
            page.wait_for_timeout(250)
            shots.append(page.screenshot())
        _stitch(browser, shots, ARTIFACTS / "postmortem-jupyterlab.png")
        browser.close()
    assert (ARTIFACTS / "postmortem-jupyterlab.png").stat().st_size > 50_000
