"""The notebooks in a real JupyterLab, driven by chromium (``-m browser``).

* Every notebook opens at a 1280 px window with the file browser open: its saved outputs are
  screenshot to ``test-artifacts/width-NAME.png``, and no chart may be wider than its cell's
  output area (nor a table, unless it scrolls inside it).
* ``02-deathstar-postmortem.ipynb`` runs all cells in a temporary copy of the notebooks and the
  capture: charts render, an Explorer picker changes the view, a brush dragged on the timeline
  redraws the service map for that time range and lists the brushed events, a click on an edge of
  the service map and one on a process of the tree filter the timeline and the event table, no
  cell shows an error, its charts fit, and a multi-screen screenshot goes to
  ``test-artifacts/postmortem-jupyterlab.png``.
"""

from __future__ import annotations

import base64
import json
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
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
WIDTH = 1280  # the narrow end of the windows analysts use, with the file browser open

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
    for name in NOTEBOOKS:
        shutil.copy(REPO / "notebooks" / name, root / "notebooks" / name)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".jupyter" / "lab" / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".jupyter" / "lab" / "workspaces"),
           "JUPYTER_DATA_DIR": str(root / ".jupyter-data")}
    # trusted, as the analyst's own notebooks are once run: JupyterLab shows their SVG charts
    subprocess.run([sys.executable, "-m", "jupyter", "trust",
                    *(str(root / "notebooks" / n) for n in NOTEBOOKS)],
                   env=env, check=True, capture_output=True, timeout=120)
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


@pytest.fixture(scope="module")
def browser(lab):
    """One chromium for the module's tests (each test opens its own page, a fresh context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _stitch(browser, shots: list[bytes], out: Path) -> None:
    """Stack the screen shots vertically into one PNG (chromium does the compositing)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    imgs = "".join(f'<img style="display:block;width:{WIDTH}px" src="data:image/png;base64,{base64.b64encode(s).decode()}">'
                   for s in shots)
    page.set_content(f"<html><body style='margin:0'>{imgs}</body></html>")
    page.wait_for_load_state("load")
    page.screenshot(path=str(out), full_page=True)
    page.close()


def _has_session(base: str, name: str) -> bool:
    """Whether the server runs a kernel session for notebook ``name``."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}", timeout=5) as r:
        return any(s.get("path", "").endswith(name) for s in json.load(r))


def _dismiss(page, base: str, name: str) -> None:
    """Accept the kernel picker if JupyterLab shows it; decline the news notification.

    JupyterLab shows the picker instead of starting a kernel: once the notebook has its kernel
    session there is no picker to wait for (waiting the full 8 s cost every open 8 s)."""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if page.locator(".jp-Dialog").count():
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
            break
        if _has_session(base, name):
            break
        page.wait_for_timeout(100)
    no = page.locator(".jp-Notification-Toast-Close, .jp-toast-button:has-text('No')")
    if no.count():
        no.first.click()


#: Charts (and tables that do not scroll) whose right edge passes their output area's.
_OVERFLOW_JS = """() => {
  const out = [];
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Cell')];
  cells.forEach((cell, i) => {
    cell.querySelectorAll('.jp-OutputArea-output').forEach(area => {
      const a = area.getBoundingClientRect();
      if (a.width === 0) return;
      const els = area.querySelectorAll('.vega-embed, .vega-embed svg, .vega-embed canvas, img, svg.marks, :scope > svg, .jp-RenderedSVG svg, table, .widget-readout, .widget-slider, .widget-dropdown');
      els.forEach(el => {
        const r = el.getBoundingClientRect();
        if (el.classList.contains('widget-readout') && el.scrollWidth > el.clientWidth + 1) {
          out.push({cell: i, what: 'readout cut: ' + el.innerText, width: el.scrollWidth, area: el.clientWidth});
          return;
        }
        if (r.width === 0 || r.right <= a.right + 1) return;
        if (el.tagName === 'TABLE') {  // a wide table may scroll inside the output area
          let p = el.parentElement, scrolls = false;
          while (p && p !== area.parentElement) {
            const s = getComputedStyle(p);
            if (['auto', 'scroll'].includes(s.overflowX) && p.getBoundingClientRect().right <= a.right + 1) { scrolls = true; break; }
            p = p.parentElement;
          }
          if (scrolls) return;
        }
        out.push({cell: i, what: el.tagName.toLowerCase() + '.' + (el.getAttribute('class') || ''),
                  width: Math.round(r.width), area: Math.round(a.width),
                  over: Math.round(r.right - a.right)});
      });
    });
  });
  return out;
}"""


def _overflowing(page) -> list[dict]:
    return page.evaluate(_OVERFLOW_JS)


def _file_browser_open(page) -> None:
    """Show the file browser in the left sidebar (as analysts work), if it is not shown."""
    if not page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='filebrowser']").first.click()
        page.wait_for_selector("#filebrowser", state="visible", timeout=10_000)


def _screens(page, browser, out: Path, limit: int = 12) -> None:
    """Several screens of the open notebook, top to bottom, stitched into one PNG."""
    outer = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").first
    height = outer.evaluate("el => el.scrollHeight")
    view = outer.evaluate("el => el.clientHeight")
    shots = []
    for y in range(0, min(height, view * limit), view):
        outer.evaluate(f"el => el.scrollTo(0, {y})")
        page.wait_for_timeout(50)  # a screenshot waits for the next frame itself
        shots.append(page.screenshot())
    _stitch(browser, shots, out)


def _subtitle(chart) -> str:
    """The subtitle a rendered vega chart shows (the service map's flow count, the tree's)."""
    return chart.locator("g.role-title-subtitle text").first.text_content() or ""


def _table_rows(explorer) -> list[str]:
    """The rows of the Explorer's event table, as text."""
    return explorer.locator("table.kn-t tr").all_inner_texts()


_MARK_CENTRE_JS = """p => { const b = p.getBBox(); const m = p.getScreenCTM();
  const x = b.x + b.width / 2, y = b.y + b.height / 2;
  return [x * m.a + y * m.c + m.e, x * m.b + y * m.d + m.f]; }"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saved_outputs_fit_at_1280px(lab, browser, name):
    """Each notebook as saved: no chart (or unscrolled table) wider than its output area."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto(f"{lab}/lab/tree/{name}?reset&token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        _dismiss(page, lab, name)
        _file_browser_open(page)
        page.wait_for_timeout(1500)  # let the outputs lay out
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        outputs = page.locator(".jp-OutputArea-output").count()
        bad = _overflowing(page)
        _screens(page, browser, ARTIFACTS / f"width-{Path(name).stem}.png", limit=16)
    finally:
        page.close()
    assert outputs > 3, f"{name}: no saved outputs to check"
    assert not bad, f"{name}: wider than the output area at {WIDTH} px: {bad}"


def test_postmortem_runs_in_jupyterlab(lab, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto(f"{lab}/lab/tree/{NB}?reset&token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        _dismiss(page, lab, NB)
        _file_browser_open(page)
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

        # a brush dragged across the middle of the timeline redraws the service map for that
        # time range and lists the brushed events
        flow_chart = explorer.locator(".vega-embed").nth(1)
        flows_all = _subtitle(flow_chart)
        chart.scroll_into_view_if_needed()
        plot = chart.locator("g.mark-group.role-frame.root > g > path.background").first.bounding_box()
        y = plot["y"] + plot["height"] / 2
        page.mouse.move(plot["x"] + plot["width"] * 0.35, y)
        page.mouse.down()
        page.mouse.move(plot["x"] + plot["width"] * 0.5, y, steps=8)
        page.mouse.move(plot["x"] + plot["width"] * 0.65, y, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "([el, v]) => { const t = el.querySelector('g.role-title-subtitle text'); "
            "return t && t.textContent !== v; }",
            arg=[flow_chart.element_handle(), flows_all], timeout=60_000)
        flows_brushed = _subtitle(flow_chart)
        page.wait_for_function("el => el.querySelectorAll('table.kn-t tr').length > 1",
                               arg=explorer.element_handle(), timeout=30_000)
        brushed_rows = _table_rows(explorer)
        page.screenshot(path=str(ARTIFACTS / "postmortem-explorer-brushed.png"))
        n_all, n_brushed = (int(t.split()[0]) if t[:1].isdigit() else 0 for t in (flows_all, flows_brushed))
        assert 0 < n_brushed < n_all, (flows_all, flows_brushed)
        assert len(brushed_rows) > 1, "the brushed events are not listed"

        # a click on an edge of the service map filters the timeline and lists the edge's flows
        flow_chart.scroll_into_view_if_needed()
        tl_before = chart.inner_html()
        # click on the stroke of an edge (a curve's bounding-box centre is often off it)
        # On a loaded machine the service map may still be redrawing after the brush when the
        # point is taken (the click then lands where the edge was): take the point again and
        # click again, up to three times; the status must still say the edge was linked.
        try:
            for attempt in range(3):
                xy = flow_chart.locator("g.mark-line path").first.evaluate(
                    """p => { const pt = p.getPointAtLength(p.getTotalLength() / 3);
                              const m = p.getScreenCTM();
                              return [pt.x * m.a + pt.y * m.c + m.e, pt.x * m.b + pt.y * m.d + m.f]; }""")
                page.mouse.move(xy[0], xy[1])
                page.wait_for_timeout(300)
                page.mouse.click(xy[0], xy[1])
                try:
                    page.wait_for_function("el => el.innerText.includes('linked')", arg=status_el,
                                           timeout=20_000)
                    break
                except PlaywrightTimeout:
                    if attempt == 2:
                        raise
        finally:
            explorer.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "postmortem-explorer.png"))
        assert "edge " in status.inner_text() and "flows" in status.inner_text()
        page.wait_for_timeout(1500)
        assert chart.inner_html() != tl_before, "the timeline did not follow the edge click"
        assert explorer.locator("table.kn-t tr").count() > 1, "the edge's flows are not listed"
        explorer.locator("table.kn-t").first.evaluate("el => el.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "postmortem-explorer-linked.png"))

        # a click on a process of the tree filters the timeline and lists that process's events
        tree = explorer.locator(".vega-embed").nth(2)
        tree.scroll_into_view_if_needed()
        edge_rows = _table_rows(explorer)
        tl_before = chart.inner_html()
        # a process of the picked namespace that made connections (the tree also shows
        # ancestors outside the namespace, and processes known only from their children)
        nodes = tree.locator("g.mark-symbol.role-mark path")
        labels = nodes.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label') || '')")
        pick = next(i for i, t in enumerate(labels)
                    if f"pod: {options[1]}/" in t and "connections: " in t and "connections: 0;" not in t)
        node = nodes.nth(pick)
        label = node.get_attribute("aria-label") or ""
        node.evaluate("p => p.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        xy = node.evaluate(_MARK_CENTRE_JS)
        page.mouse.move(xy[0], xy[1])
        page.wait_for_timeout(300)
        page.mouse.click(xy[0], xy[1])
        page.wait_for_function("el => el.innerText.includes('linked: process')", arg=status_el,
                               timeout=30_000)
        page.wait_for_timeout(1500)  # let vega redraw
        assert chart.inner_html() != tl_before, "the timeline did not follow the process click"
        # the status line is set before the table: wait for the table to change too
        page.wait_for_function(
            "([el, n]) => el.querySelectorAll('table.kn-t tr').length !== n "
            "|| el.innerText.includes('none within the filters')",
            arg=[explorer.element_handle(), len(edge_rows)], timeout=30_000)
        page.wait_for_timeout(500)
        process_rows = _table_rows(explorer)
        assert len(process_rows) > 1 and process_rows != edge_rows, (
            "the process's events are not listed", labels[pick], status.inner_text())
        # every listed event is the clicked process's: one binary, the one the status names
        binaries = explorer.locator("table.kn-t").first.evaluate(
            """t => { const h = [...t.querySelectorAll('th')].map(x => x.innerText.trim());
                      const i = h.indexOf('binary');
                      return [...t.querySelectorAll('tr')].slice(1)
                               .map(r => r.querySelectorAll('td')[i]?.innerText.trim()); }""")
        assert len(set(binaries)) == 1 and binaries[0], (label, binaries[:5])
        assert binaries[0] in status.inner_text(), (binaries[0], status.inner_text())
        explorer.locator("table.kn-t").first.evaluate("el => el.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "postmortem-explorer-process.png"))

        bad = _overflowing(page)  # the run notebook and the live Explorer fit at 1280 px
        _screens(page, browser, ARTIFACTS / "postmortem-jupyterlab.png", limit=12)
    finally:
        page.close()
    assert not bad, f"wider than the output area at {WIDTH} px: {bad}"
    assert (ARTIFACTS / "postmortem-jupyterlab.png").stat().st_size > 50_000
