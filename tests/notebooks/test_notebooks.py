"""Execute every notebook in ``notebooks/`` and check the answer cells against the saved outputs.

On failure the executed notebook is saved as ``test-artifacts/<name>-err.ipynb`` (the error
and every output up to it), as msticpy's notebook tests do.  Cells containing
``# NBVAL_CHECK_OUTPUT`` must reproduce their saved text output after sanitising with
``tests/nbval_sanitize.cfg`` — the same rule ``pytest --nbval-lax notebooks/`` applies.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NB_DIR = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOKS = sorted(p.name for p in NB_DIR.glob("*.ipynb"))
MARK = "# NBVAL_CHECK_OUTPUT"

pytestmark = pytest.mark.slow


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def _text(cell: dict) -> str:
    subs = _sanitizers()
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    text = "".join(parts)
    for rx, rep in subs:
        text = rx.sub(rep, text)
    return text


def test_every_notebook_has_kernelspec_and_saved_outputs():
    assert {"01-getting-started.ipynb", "02-deathstar-postmortem.ipynb", "03-hunting.ipynb",
            "postmortem-template.ipynb"} <= set(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(NB_DIR / name, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3", name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{name}: not executed and saved"
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{name}: saved error"
        assert any(MARK in c.source for c in code), f"{name}: no answer cell marked {MARK}"


def test_template_has_parameters_cell():
    nb = nbformat.read(NB_DIR / "postmortem-template.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "case_path" in tagged[0].source and "exports" in tagged[0].source
    assert any("findings" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_takes_its_case_as_a_parameter(name):
    """One ``parameters`` cell (papermill's tag) whose ``case_path`` names a case file or a lake."""
    nb = nbformat.read(NB_DIR / name, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source.startswith("case_path = None"), name


#: Every notebook on a case file and on the bundled capture's lake (kernelsec_nb.lake): the same
#: answers from the Parquet files.  Both are built once per session (tests/conftest.py); the
#: notebooks below read that case file instead of loading the capture into their own (01 and the
#: template still do, as saved): a load less each.
RUNS = [(name, store) for store in ("duckdb", "lake") for name in NOTEBOOKS]
SHARED_CASE = ("02-deathstar-postmortem.ipynb", "03-hunting.ipynb")


@pytest.mark.parametrize(("name", "store"), RUNS, ids=[f"{n}-{s}" if s == "lake" else n for n, s in RUNS])
def test_notebook_runs_and_reproduces_answers(name, store, request):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    saved = nbformat.read(NB_DIR / name, as_version=4)
    nb = nbformat.read(NB_DIR / name, as_version=4)
    shared = "bundled_lake" if store == "lake" else "bundled_case_file" if name in SHARED_CASE else None
    if shared:  # as papermill would: the parameters cell names the lake or case file, nothing to load
        (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        cell.source += f"\ncase_path = {str(request.getfixturevalue(shared))!r}"
        name = name.replace(".ipynb", f"-{store}.ipynb")  # the name of its artifact on failure
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NB_DIR)}})
    try:
        client.execute()
    except CellExecutionError:
        ARTIFACTS.mkdir(exist_ok=True)
        err = ARTIFACTS / name.replace(".ipynb", "-err.ipynb")
        nbformat.write(nb, err)
        pytest.fail(f"{name} failed; executed notebook saved to {err}")
    for old, new in zip(saved.cells, nb.cells, strict=True):
        if new.cell_type == "code" and MARK in new.source:
            assert _text(new) == _text(old), f"{name}: answer changed in cell\n{new.source[:200]}"
        if store == "lake" and "load.text(" in new.source:  # the lake's load report: its manifest's run
            shown = "".join(o.get("data", {}).get("text/html", "") for o in new.outputs)
            assert "a lake of 1 load run" in shown and "31672 lines = 31668 loaded" in shown, name


def test_saved_notebooks_are_what_build_makes():
    """Edit cells in notebooks/_build.py: the saved files hold its cells, with stable ids."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nb_build", NB_DIR / "_build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in build.NOTEBOOKS.items():
        saved = nbformat.read(NB_DIR / name, as_version=4)
        assert [c.source for c in saved.cells] == [c.source for c in cells], f"{name}: rebuild it"
        ids = [c.id for c in saved.cells]
        assert ids == [f"{Path(name).stem[:20]}-{i:03d}" for i in range(len(ids))], name
