"""The cell HTML that goes into a report is sanitised by nh3 (bleach is deprecated upstream)."""

from __future__ import annotations

import re
import sys

import pytest

from kernelsec_nb.report.render import _clean_html

VECTORS = [
    "<script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<iframe src="https://evil.example/"></iframe>',
    '<object data="x.swf"></object><embed src="x">',
    '<details open ontoggle=alert(1)><summary>s</summary></details>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<form><button formaction=javascript:alert(1)>x</button></form>',
    '<div style="background:url(javascript:alert(1))">d</div>',
    '<style>@import "https://evil.example/x.css";</style>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    '<!--<script>alert(1)</script>-->',
]


@pytest.mark.parametrize("payload", VECTORS)
def test_no_active_content_survives(payload):
    out = _clean_html(f"<p>before</p>{payload}<p>after</p>")
    assert not re.search(r"<\s*(script|style|iframe|object|embed|svg|math|meta|base|form|button|img)\b", out, re.I)
    assert not re.search(r"<[a-z][^>]*\s(on[a-z]+|style|src|formaction)\s*=", out, re.I)
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*(javascript|data|vbscript):""", out, re.I)
    assert out.startswith("<p>before</p>")  # (an unclosed <style> swallows the rest: gone, not run)


def test_tables_and_links_stay():
    html = ('<table border="1" class="dataframe"><tr><th title="t">a</th><td colspan="2">&lt;b&gt;</td></tr></table>'
            '<a href="https://docs.cilium.io/">docs</a>')
    out = _clean_html(html)
    assert '<table class="dataframe"><tbody><tr><th title="t">a</th><td colspan="2">&lt;b&gt;</td>' in out
    assert 'href="https://docs.cilium.io/"' in out


def test_bleach_is_not_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "bleach", None)  # `import bleach` now fails
    assert _clean_html("<b onclick=x>ok</b>") == "<b>ok</b>"
