"""Saving views: ``.svg``/``.png`` through vl-convert, and standalone HTML safe for event data.

altair's own HTML puts the spec verbatim inside a ``<script>``: a process argument holding
``</script><script>…`` closes it and runs.  Here the spec is JSON in which every ``<``, ``>``,
``&``, U+2028 and U+2029 is written as a ``\\uXXXX`` escape, inside a non-executable
``<script type="application/json">`` read with ``JSON.parse``; the Vega JavaScript is inlined
(no CDN) and a Content-Security-Policy forbids any network access.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from kernelsec_nb._text import shown_spec

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
            "\u2029": "\\u2029"}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<title>{title}</title>
<style>body {{ font-family: sans-serif; margin: 12px; }} .vega-embed {{ width: 100%; }}</style>
</head>
<body>
<div id="vis"></div>
<script type="application/json" id="kernelsec-spec">{spec}</script>
<script>{bundle}</script>
<script>
(function () {{
  var spec = JSON.parse(document.getElementById("kernelsec-spec").textContent);
  vegaEmbed("#vis", spec, {{renderer: "svg", actions: false}}).catch(function (err) {{
    var pre = document.createElement("pre");
    pre.textContent = String(err);
    document.getElementById("vis").appendChild(pre);
  }});
}})();
</script>
</body>
</html>
"""


def safe_json(obj: Any) -> str:
    """JSON that can sit inside an HTML ``<script>`` element without closing it.

    Examples
    --------
    >>> safe_json({"args": "</script><script>alert(1)</script>"})
    '{"args": "\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, sort_keys=False, allow_nan=False)
    for raw, esc in _ESCAPES.items():
        text = text.replace(raw, esc)
    return text


def _spec(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec, its text safe to render (vl-convert's SVG parser aborts the
    process on a control character: :func:`kernelsec_nb._text.shown_spec`)."""
    if isinstance(chart, dict):
        return shown_spec(chart)
    if hasattr(chart, "to_dict"):
        return shown_spec(chart.to_dict())
    raise TypeError(f"cannot save a {type(chart).__name__}; pass an altair chart or a spec dict")


def _vl_version(spec: dict[str, Any]) -> str | None:
    """'v6.4.1' in the spec's ``$schema`` → '6.4' when vl-convert knows it."""
    import vl_convert as vlc

    schema = str(spec.get("$schema", ""))
    for v in vlc.get_vegalite_versions():
        if f"/v{v}." in schema or schema.endswith(f"/v{v}.json"):
            return v
    return None


@functools.lru_cache(maxsize=4)
def _bundle(vl_version: str | None) -> str:
    import vl_convert as vlc

    js = vlc.javascript_bundle(vl_version=vl_version) if vl_version else vlc.javascript_bundle()
    # The bundle is our code, but make sure it cannot end its own <script> element either.
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT").replace(
        "<!--", "<\\!--")


def to_html(chart: Any, *, title: str = "kernelsec_nb view") -> str:
    """A standalone HTML page showing the chart: JavaScript inlined, no network, spec escaped.

    Parameters
    ----------
    chart : altair chart or dict
        The view (or its Vega-Lite spec).
    title : str
        The page title (escaped).

    Returns
    -------
    str

    Examples
    --------
    >>> import altair as alt
    >>> page = to_html(alt.Chart(alt.Data(values=[{"a": "</script>"}])).mark_point())
    >>> "</script><" in page.split('id="kernelsec-spec">')[1].split("</script>")[0]
    False
    """
    import html

    spec = _spec(chart)
    return _PAGE.format(title=html.escape(title), spec=safe_json(spec),
                        bundle=_bundle(_vl_version(spec)))


def save(chart: Any, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write a view to ``.svg``, ``.png`` (vl-convert), ``.html`` (safe, offline) or ``.json``.

    Parameters
    ----------
    chart : altair chart, dict, or an object with ``snapshot_chart()`` (the Explorer)
        What to save.
    path : str or Path
        Target file; the suffix picks the format.
    scale : float
        Pixel ratio of PNG output.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import kernelsec_nb as kn, tempfile, os
    >>> out = kn.viz.save(kn.viz.timeline(kn.open_case()), os.path.join(tempfile.mkdtemp(), "t.svg"))
    >>> out.read_text()[:4]
    '<svg'
    """
    import vl_convert as vlc

    if hasattr(chart, "snapshot_chart"):
        chart = chart.snapshot_chart()
    path = Path(path)
    spec = _spec(chart)
    version = _vl_version(spec)
    kw = {"vl_version": version} if version else {}
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(spec, **kw), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(spec, scale=scale, **kw))
    elif suffix in (".html", ".htm"):
        path.write_text(to_html(spec, title=path.stem), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    else:
        raise ValueError(f"cannot save as {suffix!r}: use .svg, .png, .html or .json")
    return path
