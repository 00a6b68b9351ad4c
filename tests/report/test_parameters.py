"""Which papermill parameters a rendered notebook gets (``render.notebook_parameters``): only the
names its ``parameters`` cell declares, ``exports`` loaded first when it takes none, a misspelt
name refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

import kernelsec_nb as kn
from kernelsec_nb.report import render_module

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "data" / "deathstar" / "kind-control-plane"


def _notebook(path: Path, *, parameters: str | None) -> Path:
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import kernelsec_nb as kn\n"
        "with kn.open_case(case_path, read_only=True) as case:\n"
        "    print('events', case.sql('select count(*) from events').item())"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_a_notebook_gets_only_the_parameters_it_declares(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb", parameters="case_path = None")
    params, load_first = render_module.notebook_parameters(nb, {"case_path": "c.duckdb", "exports": None})
    assert params == {"case_path": "c.duckdb"} and load_first is None


def test_exports_for_a_notebook_that_takes_none_are_loaded_first(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb", parameters="case_path = None")
    params, load_first = render_module.notebook_parameters(nb, {"case_path": "c.duckdb", "exports": "/x"})
    assert params == {"case_path": "c.duckdb"} and load_first == "/x"
    nb2 = _notebook(tmp_path / "m.ipynb", parameters="case_path = None\nexports = None")
    assert render_module.notebook_parameters(nb2, {"case_path": "c", "exports": "/x"}) == (
        {"case_path": "c", "exports": "/x"}, None)


def test_a_misspelt_parameter_is_refused_with_the_declared_names(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb", parameters="case_path = None")
    with pytest.raises(ValueError, match=r"takes no parameter 'case_pth' \(it takes: case_path\)"):
        render_module.notebook_parameters(nb, {"case_path": "c", "case_pth": "d", "exports": None})


def test_a_notebook_without_a_parameters_cell_gets_everything(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb", parameters=None)
    given = {"case_path": "c", "exports": None, "anything": 1}
    assert render_module.notebook_parameters(nb, given) == (given, None)


def test_the_bundled_notebooks_are_found_by_name():
    for name in ("01-getting-started", "02-deathstar-postmortem", "03-hunting", "postmortem"):
        assert render_module.find_notebook(name).suffix == ".ipynb"


def test_render_loads_exports_into_the_case_for_a_notebook_without_exports(tmp_path, capfd):
    exports = tmp_path / "exports"
    shutil.copytree(NODE_DIR, exports / "node")
    nb = _notebook(tmp_path / "n.ipynb", parameters="case_path = None")
    res = render_module.render(tmp_path / "case.duckdb", nb, tmp_path / "r.html", exports=exports)
    assert not res["errors"], res["errors"]
    with kn.open_case(tmp_path / "case.duckdb", read_only=True) as case:
        n = case.sql("select count(*) from events").item()
    assert n > 0
    assert f"events {n}" in Path(res["html"]).read_text()
    assert "unknown parameter" not in capfd.readouterr().err
