"""Attacker strings in args, HTTP paths and labels stay text in every output we write.

The fixture plants ``<img src=x onerror=alert(1)>``, ``"}]};alert(1)//`` and
``</script><script>alert(1)</script>`` in process arguments, an HTTP path, a pod label and a
Falco output.  Saved HTML must keep them inside the escaped JSON; in a real chromium
(``-m browser``) no dialog may fire and the chart must render.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.viz.html import safe_json, to_html
from tests.viz.fixture_case import BREAK, IMG, SCRIPT, exec_id
from tests.viz.viz_browser import ARGS, CHROMIUM, chromium_available

VIEWS = {
    "timeline": lambda c: kn.viz.timeline(c),
    "timeline_buckets": lambda c: kn.viz.timeline(c, max_points=10),
    "flow_chart": lambda c: kn.viz.flow_chart(c),
    "process_tree": lambda c: kn.viz.process_tree(c),
    "attack_flow": lambda c: kn.viz.attack_flow(c, exec_id=exec_id(4)),
    "activity_heatmap": lambda c: kn.viz.activity_heatmap(c, by=("pod", "binary")),
}


def _spec_text(page: str) -> str:
    return page.split('id="kernelsec-spec">', 1)[1].split("</script>", 1)[0]


def _assert_page_safe(page: str) -> None:
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page.lower()
    assert "alert(1)</script>" not in page
    assert page.count("<script") == 3  # spec, bundle, embed call: nothing else opened a script
    assert "<!--" not in _spec_text(page)
    assert "\u2028" not in page and "\u2029" not in page


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_saved_html_escapes_payloads(case, tmp_path: Path, name: str) -> None:
    chart = VIEWS[name](case)
    spec = chart.to_dict()
    out = kn.viz.save(chart, tmp_path / f"{name}.html")
    page = out.read_text()
    _assert_page_safe(page)
    assert json.loads(_spec_text(page)) == json.loads(json.dumps(spec))  # data intact
    planted = [p for p in (IMG, SCRIPT) if p in json.dumps(spec, ensure_ascii=False)]
    assert planted, "the fixture payloads must reach the spec for this test to mean anything"
    assert "<script src" not in page and "<link" not in page  # nothing loaded from a CDN
    assert "default-src 'none'" in page


def test_safe_json_escapes_every_breakout() -> None:
    text = safe_json({"a": SCRIPT + "<!--" + BREAK + "\u2028\u2029&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text)["a"].startswith(SCRIPT)


def test_svg_and_png_export(case, tmp_path: Path) -> None:
    svg = kn.viz.save(kn.viz.process_tree(case), tmp_path / "tree.svg").read_text()
    assert svg.startswith("<svg")
    assert "<img" not in svg and "<script" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    png = kn.viz.save(kn.viz.timeline(case), tmp_path / "t.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        kn.viz.save(kn.viz.timeline(case), tmp_path / "t.pdf")


def test_title_is_escaped() -> None:
    import altair as alt

    page = to_html(alt.Chart(alt.Data(values=[])).mark_point(), title=SCRIPT)
    assert "<title>&lt;/script&gt;" in page


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright")
def test_no_script_runs_in_chromium(case, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    pages = {name: kn.viz.save(view(case), tmp_path / f"{name}.html")
             for name, view in VIEWS.items()}
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            for name, path in pages.items():
                page.goto(path.as_uri())
                page.wait_for_selector(".vega-embed svg.marks", timeout=20_000)
                # hover every mark so tooltips (which hold the payloads) get rendered too
                for el in page.query_selector_all(".vega-embed svg.marks path, "
                                                  ".vega-embed svg.marks text")[:60]:
                    try:
                        el.hover(timeout=500, force=True)
                    except Exception:  # noqa: BLE001 - some marks are covered; fine
                        pass
                page.wait_for_timeout(200)
                assert page.query_selector("img") is None, name
                assert not dialogs, (name, dialogs)
            assert all(u.startswith("file:") for u in requests), requests
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright")
def test_control_unescaped_page_does_fire(case, tmp_path: Path) -> None:
    """Negative control: the same page with the spec NOT escaped fires the planted alert, so
    the test above would notice a regression."""
    from playwright.sync_api import sync_playwright

    from kernelsec_nb.viz import html as vhtml

    spec = kn.viz.timeline(case).to_dict()
    assert SCRIPT in json.dumps(spec)
    bad = vhtml._PAGE.format(title="control", spec=json.dumps(spec), bundle="")
    path = tmp_path / "control.html"
    path.write_text(bad)
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_timeout(500)
        finally:
            browser.close()
    assert dialogs, "the unescaped control page should have run the planted script"
