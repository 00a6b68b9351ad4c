"""Execute a postmortem notebook against a case and assemble one standalone HTML file."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from kernelsec_nb._paths import relative_names
from kernelsec_nb._text import shown
from kernelsec_nb.report._table import time_text
from kernelsec_nb.sources import Capability, names_with

_PKG = Path(__file__).resolve().parent.parent
_REPO = _PKG.parent
#: Short names accepted by :func:`find_notebook` → file names in ``notebooks/``.
NOTEBOOKS = {"postmortem": "postmortem-template.ipynb"}
FINDINGS_TAG = "findings"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: A character reference in HTML (``&#x202e;``, ``&#8238;``, ``&rlm;``, and legacy ones without ``;``).
_CHAR_REF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def _candidates(rel: str) -> list[Path]:
    return [_REPO / rel, Path.cwd() / rel]


def find_notebook(name: str | Path) -> Path:
    """A notebook path, or a short name looked up in the repo's ``notebooks/``: ``postmortem``
    (the template) or a notebook's name without ``.ipynb`` (``02-deathstar-postmortem``)."""
    p = Path(name)
    if p.exists():
        return p.resolve()
    rel = NOTEBOOKS.get(str(name), str(name))
    # a path inside the clone (``notebooks/postmortem-template.ipynb``) works from any folder
    inside = [_REPO / p] if not p.is_absolute() else []
    for c in (*inside, *_candidates(f"notebooks/{rel}"), *_candidates(f"notebooks/{rel}.ipynb")):
        if c.is_file():
            return c.resolve()
    raise FileNotFoundError(f"no notebook {name!r} (give a path, or one of {bundled_notebooks()})")


def bundled_notebooks() -> list[str]:
    """The short names :func:`find_notebook` takes: ``postmortem`` and the bundled notebooks' names."""
    found = sorted(f.stem for f in (_REPO / "notebooks").glob("*.ipynb") if not f.name.startswith("_"))
    return sorted(NOTEBOOKS) + found


def bundled_capture() -> Path:
    """The bundled incident capture ``data/deathstar`` (next to the package, or under the cwd)."""
    for c in _candidates("data/deathstar"):
        if c.is_dir():
            return c.resolve()
    raise FileNotFoundError("data/deathstar not found (run from a checkout of kernelsec_nb)")


# -- execution ---------------------------------------------------------------------------
def notebook_parameters(notebook: Path, params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The parameters to pass to ``notebook``, and the exports to load first (or None).

    A notebook with a ``parameters`` cell gets only the names it declares: papermill would
    otherwise inject the others and warn "Passed unknown parameter".  ``exports`` given to a
    notebook that does not declare it is returned to be loaded into the case before the run (the
    analyst asked for it; dropping it would render a report without it).  Any other undeclared
    parameter with a value is an error, as a misspelt name would silently do nothing.  A notebook
    without a ``parameters`` cell gets everything (papermill puts the cell at the top).

    >>> from kernelsec_nb.report.render import find_notebook, notebook_parameters
    >>> notebook_parameters(find_notebook("01-getting-started"), {"case_path": "c.duckdb", "exports": None})
    ({'case_path': 'c.duckdb'}, None)
    """
    import papermill as pm

    declared = set(pm.inspect_notebook(str(notebook)))
    if not declared:
        return params, None
    load_first = params.get("exports") if "exports" not in declared else None
    unknown = sorted(k for k, v in params.items() if k not in declared and k != "exports" and v is not None)
    if unknown:
        raise ValueError(f"notebook {notebook.name} takes no parameter {', '.join(map(repr, unknown))} "
                         f"(it takes: {', '.join(sorted(declared))})")
    return {k: v for k, v in params.items() if k in declared}, load_first


def _execute(notebook: Path, out_nb: Path, parameters: dict[str, Any], timeout: int) -> Any:
    import papermill as pm

    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=parameters, kernel_name="python3",
                            cwd=str(notebook.parent), progress_bar=False, log_output=False,
                            execution_timeout=timeout)
    except pm.PapermillExecutionError:
        pass  # the executed notebook (with the error in it) is still rendered, then reported
    return nbformat.read(str(out_nb), as_version=4)


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        v = json.loads("".join(text) if isinstance(text, list) else text)
    except (TypeError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def _findings(nb: Any) -> dict[str, Any]:
    """The findings a notebook displayed: as exported (its plain JSON, where control characters
    are escaped, so it shows safely and keeps the bytes), else its ``application/json`` (what
    JupyterLab draws, text shown), else a JSON object it printed."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in cells if FINDINGS_TAG in c.get("metadata", {}).get("tags", [])]
    for c in reversed(tagged or cells[-1:]):
        for o in reversed(c.get("outputs", [])):
            data = o.get("data", {})
            if "application/json" in data and (plain := _json_object(data.get("text/plain"))) is not None:
                return plain
            if "application/json" in data:
                v = data["application/json"]
                return json.loads(v) if isinstance(v, str) else dict(v)
            if o.get("output_type") == "stream":
                m = re.search(r"\{.*\}", o.get("text", ""), re.S)
                if m:
                    return json.loads(m.group(0))
    return {}


def _errors(nb: Any) -> list[str]:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"{o.get('ename')}: {o.get('evalue')}")
    return out


# -- manifest ----------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for name in ("kernelsec_nb", "duckdb", "polars", "altair", "vl-convert-python", "papermill"):
        try:
            v[name] = md.version(name)
        except md.PackageNotFoundError:
            if name == "kernelsec_nb":
                import kernelsec_nb

                v[name] = kernelsec_nb.__version__
    return v


def _from_case(case_path: Path, findings: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What the report reads of the case itself (one read-only open): its input files for the
    manifest, and exec_id → binary for the findings' exec chains (a chain of ids means nothing to
    a reader).  Nothing when the case cannot be read: the manifest has no inputs, the ids are shown."""
    import kernelsec_nb as kn

    ids = sorted({x for i in findings.get("incidents") or [] for x in i.get("chain") or []})
    rows = None
    try:
        with kn.open_case(case_path, read_only=True) as case:
            files = case.files()
            if ids:
                try:
                    rows = case.sql("SELECT exec_id, binary FROM processes WHERE list_contains(?, exec_id)", [ids])
                except Exception:  # noqa: BLE001, S110 - the ids are shown instead
                    pass
    except Exception:  # noqa: BLE001 - a manifest without inputs is still a manifest
        return [], {}
    cols = ["path", "sha256", "bytes", "lines", "loaded", "duplicates", "quarantined", "blank", "sources"]
    inputs = [{k: r.get(k) for k in cols} for r in files.iter_rows(named=True)]
    names = {r["exec_id"]: r["binary"] for r in rows.iter_rows(named=True) if r["binary"]} if rows is not None else {}
    return inputs, names


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- HTML --------------------------------------------------------------------------------
def _e(value: Any) -> str:
    """Text from a notebook or the data, for HTML: shown (:func:`kernelsec_nb.shown`), then escaped."""
    return html.escape(shown(str(value)))


def _shown_html(text: str) -> str:
    """Cleaned HTML with its text shown: control, format and bidi characters, and character
    references to them (``&#x202e;``), made visible — a polars table keeps U+202E in its cells."""
    def ref(m: re.Match[str]) -> str:
        ch = html.unescape(m.group(0))
        if not ch and m.group(0)[1] == "#":  # Python drops ``&#x1b;``; a browser emits the ESC
            digits = m.group(0)[2:].rstrip(";")
            ch = chr(int(digits[1:], 16) if digits[0] in "xX" else int(digits))
        return m.group(0) if shown(ch) == ch else html.escape(shown(ch))

    return _CHAR_REF.sub(ref, shown(text))


_CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#222}
h1,h2,h3{line-height:1.2} pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap}
table{border-collapse:collapse;font:12px monospace;margin:6px 0;display:block;max-width:100%;overflow-x:auto} td,th{border:1px solid #ddd;padding:2px 5px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{text-align:right} img.chart{max-width:100%;display:block;margin:8px 0} .err{background:#fdecea}
details summary{cursor:pointer;color:#555;font-size:12px} .manifest td{font-size:11px} .findings{border-left:4px solid #0072B2;padding-left:10px}"""

_ALLOWED_TAGS = ["a", "b", "i", "em", "strong", "code", "pre", "p", "br", "div", "span", "small",
                 "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "ul", "ol", "li",
                 "h1", "h2", "h3", "h4", "h5", "h6", "details", "summary", "hr", "blockquote", "sup", "sub"]
_ALLOWED_ATTRS = {"*": ["title", "class", "colspan", "rowspan"], "a": ["href"]}


def _clean_html(text: str) -> str:
    """HTML output of a cell with scripts, styles, handlers and foreign elements removed.

    Sanitised by ``nh3`` (the Rust ``ammonia`` crate; ``bleach`` is deprecated): elements not in
    the allow-list are dropped (their text kept), ``script`` and ``style`` with their content,
    attributes not listed and URLs other than http(s)/mailto removed, comments stripped.

    Examples
    --------
    >>> _clean_html('<b onclick="x()">hi</b><script>alert(1)</script><a href="javascript:x">a</a>')
    '<b>hi</b><a rel="noopener noreferrer">a</a>'
    """
    import nh3

    return nh3.clean(text, tags=set(_ALLOWED_TAGS), clean_content_tags={"script", "style"},
                     attributes={tag: set(names) for tag, names in _ALLOWED_ATTRS.items()},
                     url_schemes={"https", "http", "mailto"}, strip_comments=True)


def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return _clean_html(markdown2html_mistune(text))


def _img(mime: str, payload: str) -> str:
    if mime == "image/svg+xml":
        payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="chart" src="data:{mime};base64,{payload.strip()}">'


def _output_html(o: dict[str, Any]) -> str:
    kind = o.get("output_type")
    if kind == "stream":
        cls = ' class="err"' if o.get("name") == "stderr" else ""
        return f"<pre{cls}>{_e(o.get('text', ''))}</pre>"
    if kind == "error":
        tb = _ANSI.sub("", "\n".join(o.get("traceback", [])))
        return f'<pre class="err">{_e(tb)}</pre>'
    data = o.get("data", {})
    for mime in ("image/svg+xml", "image/png", "image/jpeg"):
        if mime in data:
            v = data[mime]
            return _img(mime, "".join(v) if isinstance(v, list) else v)
    if "application/json" in data and "text/html" not in data:
        return ("<details><summary>JSON</summary><pre>"
                + _e(json.dumps(data["application/json"], indent=2, default=str)) + "</pre></details>")
    if "text/html" in data:
        v = data["text/html"]
        return f"<div>{_shown_html(_clean_html(''.join(v) if isinstance(v, list) else v))}</div>"
    if "text/markdown" in data:
        return _shown_html(_markdown(data["text/markdown"]))
    if "text/plain" in data:
        v = data["text/plain"]
        return f"<pre>{_e(''.join(v) if isinstance(v, list) else v)}</pre>"
    return ""


def _manifest_html(manifest: dict[str, Any]) -> str:
    e = _e
    names = relative_names([str(f["path"]) for f in manifest["inputs"]])
    rows = "".join(
        f"<tr><td>{e(name)}</td>"
        f"<td>{e(str(f.get('sha256') or ''))}</td><td>{e(str(f.get('lines')))}</td>"
        f"<td>{e(str(f.get('loaded')))}</td><td>{e(str(f.get('duplicates')))}</td>"
        f"<td>{e(str(f.get('quarantined')))}</td><td>{e(str(f.get('blank')))}</td></tr>"
        for name, f in zip(names, manifest["inputs"], strict=True))
    vers = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in manifest["versions"].items())
    # the case by its file name: the report is shared, the analyst's folders stay private
    return ('<h2 id="manifest">Manifest</h2>'
            f"<p>case: <code>{e(Path(str(manifest['case'])).name)}</code> &middot; notebook: <code>{e(manifest['notebook'])}</code> "
            f"(sha256 <code>{e(manifest['notebook_sha256'])}</code>) &middot; rendered {e(manifest['rendered_at'])}</p>"
            '<table class="manifest"><tr><th>file (under the loaded folder)</th><th>sha256</th><th>lines</th><th>loaded</th>'
            f"<th>duplicates</th><th>quarantined</th><th>blank</th></tr>{rows}</table>"
            f'<table class="manifest"><tr><th>package</th><th>version</th></tr>{vers}</table>')


def _cmd(c: dict[str, Any] | None) -> str:
    """``binary args`` of an entry or key command record, or ``""``."""
    return " ".join(str(c.get(k)) for k in ("binary", "args") if c and c.get(k)) if c else ""


def _place(x: dict[str, Any]) -> str:
    return f"{x.get('namespace') or '?'}/{x.get('pod') or '?'}" if x.get("pod") else f"node {x.get('node') or '?'}"


def _incident_rows(i: dict[str, Any], srcs: list[str], names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    nd = "not determinable from this data"
    entry, key = i.get("entry") or {}, i.get("key_command") or {}
    reqs = i.get("requests") or []
    return [
        ("confidence", str(i.get("confidence") or nd)),
        ("entry pod", _place(i) if i.get("pod") else nd),
        ("workload", i.get("workload") or nd),
        ("node", i.get("node") or nd),
        ("entry", (_cmd(entry) + (f" ({entry['trigger']})" if entry.get("trigger") else "")) if entry else nd),
        ("key command", (_cmd(key) + (f" — {key['why']}" if key.get("why") else "")) if key else nd),
        ("exec chain", " → ".join((names or {}).get(x, x).rsplit("/", 1)[-1] for x in i.get("chain") or []) or nd),
        ("reached", "; ".join(f"{_place(r)} on {r.get('node') or '?'} via {', '.join(r.get('how') or []) or '?'}"
                              for r in i.get("reached") or [])[:600] or "none"),
        ("external endpoints", "; ".join(f"{x.get('ip')}:{x.get('port')} {x.get('role')}"
                                         + (f" ({x['fqdn']})" if x.get("fqdn") else "")
                                         for x in i.get("endpoints") or [])[:600] or "none"),
        ("requests let through / dropped (Hubble)",
         f"{sum(r.get('verdict') != 'DROPPED' for r in reqs)} / {sum(r.get('verdict') == 'DROPPED' for r in reqs)}"
         if names_with(Capability.FLOWS) & set(srcs) or not srcs else "no flows in the capture"),
        ("ATT&CK techniques", ", ".join(sorted(i.get("techniques") or {})) or "none"),
        ("why", "; ".join(i.get("why") or [])[:900] or nd),
    ]


def _summary_html(findings: dict[str, Any], failed: bool = False, names: dict[str, str] | None = None) -> str:
    """The findings (``Findings.to_dict()`` as the template displayed it) as the report's summary:
    the top incident's table and one line per other incident; with no incident, a first line
    that says so, then the leads (never called an attacker).  ``failed``: the notebook raised
    errors, which may be why it displayed no findings."""
    e = _e
    if not findings:
        why = ("The notebook displayed no findings: a cell failed before it could (see the errors above; "
               "<code>kernelsec-nb findings CASE</code> prints them)." if failed else
               "The notebook displayed no findings (it has no cell tagged <code>findings</code>; "
               "<code>kernelsec-nb findings CASE</code> prints them).")
        return f'<div class="findings"><h2>Findings</h2><p>{why}</p></div>'
    srcs = findings.get("sources") or []
    incidents = findings.get("incidents") or []
    leads = findings.get("leads") or []
    parts = []
    if incidents:
        parts.append(f"<p>{len(incidents)} incident(s); {len(leads)} lead(s).</p>")
        top = incidents[0]
        rows = _incident_rows(top, srcs, names)
        parts.append(f"<h3>Incident #{e(top.get('rank', 1))}</h3><table>"
                     + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows) + "</table>")
        for i in incidents[1:]:
            parts.append(f"<p>Incident #{e(i.get('rank'))} ({e(i.get('confidence'))}): entered {e(_place(i))} on "
                         f"{e(i.get('node') or '?')}; key command {e(_cmd(i.get('key_command')) or '?')}</p>")
    else:
        parts.append(f"<p><b>No incident</b>: nothing crossed the threshold; {len(leads)} lead(s).</p>")
    if leads:
        parts.append("<h3>Leads (below the threshold)</h3><ul>" + "".join(
            f"<li>{e(_place(x))} on {e(x.get('node') or '?')}: {e(x.get('why_not') or '')}"
            + (f" ({e('; '.join(x.get('why') or [])[:600])})" if x.get("why") else "") + "</li>" for x in leads) + "</ul>")
    # attacker text shown, not obeyed: a bidi override in one argument reversed the rest of the cell
    notes = "".join(f"<li>{e(n)}</li>" for n in findings.get("notes") or [])
    parts.append(f"<p>sources: {e(', '.join(srcs) or 'none')}</p>")
    return ('<div class="findings"><h2>Findings</h2>' + "".join(parts) + (f"<ul>{notes}</ul>" if notes else "")
            + "<details><summary>findings JSON</summary><pre>"
            + e(json.dumps(findings, indent=2, default=str)) + "</pre></details></div>")


def answer_lines(findings: dict[str, Any]) -> list[str]:
    """The three-line answer of a report's findings: the top incident's pod, node and key
    command; with no incident, a line that says so and one per lead (shown by the caller).

    >>> answer_lines({"incidents": [{"namespace": "a", "pod": "p", "node": "n",
    ...                              "key_command": {"binary": "/bin/kill", "args": "-9 2"}}]})
    ['pod: a/p', 'node: n', 'key command: /bin/kill -9 2']
    >>> answer_lines({"incidents": [], "leads": [{"namespace": "a", "pod": "p", "node": "n", "why_not": "w"}]})
    ['no incident; 1 lead(s)', 'lead: a/p on n: w']
    """
    nd = "not determinable from this data"
    incidents = findings.get("incidents") or []
    if not incidents:
        leads = findings.get("leads") or []
        return [f"no incident; {len(leads)} lead(s)",
                *(f"lead: {_place(x)} on {x.get('node') or '?'}: {x.get('why_not') or ''}" for x in leads)]
    i = incidents[0]
    return [f"pod: {_place(i) if i.get('pod') else nd}", f"node: {i.get('node') or nd}",
            f"key command: {_cmd(i.get('key_command')) or nd}"]


def _assemble(nb: Any, manifest: dict[str, Any], findings: dict[str, Any], errors: list[str],
              names: dict[str, str] | None = None) -> str:
    e = _e
    title = "Postmortem"
    for c in nb.cells:
        if c.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", c.source, re.M)
            if m:
                title = m.group(1).strip()
                break
    body = []
    if errors:
        body.append('<div class="err"><b>The notebook raised errors:</b><pre>'
                    + e("\n".join(errors)) + "</pre></div>")
    summary = _summary_html(findings, failed=bool(errors), names=names)
    cells = [c for c in nb.cells if not ({"remove-cell", "injected-parameters", "parameters"}
                                         & set(c.get("metadata", {}).get("tags", [])))]
    for i, c in enumerate(cells):
        tags = c.get("metadata", {}).get("tags", [])
        if c.cell_type == "markdown":
            body.append(_shown_html(_markdown(c.source)))
        elif c.cell_type == "code":
            if "remove-input" not in tags and c.source.strip():
                body.append(f"<details><summary>code</summary><pre>{e(c.source)}</pre></details>")
            if "remove-output" not in tags:
                body.extend(_output_html(o) for o in c.get("outputs", []))
        if i == 0 and summary:  # the answer right under the title
            body.append(summary)
            summary = ""
    if summary:
        body.insert(0, summary)
    body.append(_manifest_html(manifest))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def render(case_path: str | Path, notebook: str | Path = "postmortem", out_html: str | Path = "report.html",
           *, exports: str | Path | None = None, parameters: dict[str, Any] | None = None,
           timeout: int = 600, keep_notebook: str | Path | None = None) -> dict[str, Any]:
    """Execute ``notebook`` on a case and write one standalone HTML report.

    ``case_path`` is a case file; with ``exports`` (files or folder) the notebook loads them into
    it first.  The notebook gets the papermill parameters ``case_path`` and ``exports`` (plus
    ``parameters``).  The HTML has no JavaScript and loads nothing: charts are embedded SVG
    images, every string from the data is escaped, and a manifest lists the input files
    (sha256, lines) and versions.

    Returns ``{"html": path, "findings": {...}, "errors": [...], "notebook": executed path or None}``.
    """
    nb_path = find_notebook(notebook)
    case_path = Path(case_path).expanduser().resolve()
    out_html = Path(out_html).expanduser().resolve()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    params = {"case_path": str(case_path), "exports": str(Path(exports).resolve()) if exports else None}
    params.update(parameters or {})
    params, load_first = notebook_parameters(nb_path, params)
    if load_first is not None:  # a notebook that takes no ``exports``: load them into the case here
        from kernelsec_nb.store import open_case

        with open_case(case_path) as case:
            case.load(load_first, progress=False)
    with tempfile.TemporaryDirectory(prefix="kn-report-") as tmp:
        out_nb = Path(keep_notebook) if keep_notebook else Path(tmp) / nb_path.name
        nb = _execute(nb_path, out_nb, params, timeout)
    findings = _findings(nb)
    errors = _errors(nb)
    inputs, names = _from_case(case_path, findings)
    manifest = {"case": str(case_path), "notebook": nb_path.name, "notebook_sha256": _sha256(nb_path),
                "rendered_at": time_text(dt.datetime.now(dt.UTC)),
                "inputs": inputs, "versions": _versions(), "parameters": params}
    out_html.write_text(_assemble(nb, manifest, findings, errors, names), encoding="utf-8")
    return {"html": str(out_html), "findings": findings, "errors": errors, "manifest": manifest,
            "notebook": str(keep_notebook) if keep_notebook else None}


def main_job(out_dir: str | Path, *, capture: str | Path | None = None) -> dict[str, Any]:
    """The demo: a case in ``out_dir`` from the bundled capture, rendered to ``postmortem.html``.

    Returns the :func:`render` result; ``result["findings"]`` is ``case.findings().to_dict()``
    (``incidents``, ``leads``, ``notes``) plus ``sources`` and each incident's ``requests``.
    """
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    case_path = out / "deathstar.duckdb"
    for stale in (case_path, Path(str(case_path) + ".wal")):
        stale.unlink(missing_ok=True)
    return render(case_path, "postmortem", out / "postmortem.html",
                  exports=capture or bundled_capture())


def demo(out_dir: str | Path = "kernelsec-demo") -> dict[str, Any]:
    """:func:`main_job` plus the three-line answer printed (what ``kernelsec-nb demo`` shows)."""
    res = main_job(out_dir)
    print(f"report: {res['html']}")
    for line in answer_lines(res["findings"]):
        print(shown(line))
    return res
