"""The public API, the README and the packaging stay in step."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import kernelsec_nb as kn
from tests.conftest import REPO


def test_all_names_exist_and_are_documented():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### The public API", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z_]+)", section, flags=re.M))
    assert documented == set(kn.__all__)
    for name in kn.__all__:
        assert getattr(kn, name) is not None


def test_import_is_light():
    code = ("import sys, kernelsec_nb; bad = [m for m in ('altair', 'ipywidgets', 'jupyterlab', 'sigma', "
            "'IPython') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


#: conda-forge packages named differently from their PyPI distribution.
_CONDA_NAMES = {"python-xxhash": "xxhash", "python-isal": "isal"}


def _names(specs):
    names = {re.split(r"[<>=!~\[ ]", s.strip(), maxsplit=1)[0].lower().replace("_", "-") for s in specs}
    return {_CONDA_NAMES.get(n, n) for n in names}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = _names(project["dependencies"])
    env = (REPO / "environment.yml").read_text().split("dependencies:", 1)[1]
    conda = _names(re.findall(r"^  - ([A-Za-z][\w.-]*)(?:[<>=].*)?$", env, flags=re.M)) - {"python", "pip"}
    assert deps == conda


def test_cli_load_json(tmp_path):
    import json

    from tests.store.lines import sample_lines

    (tmp_path / "x.log").write_text("\n".join(sample_lines()) + "\n")
    out = subprocess.run([sys.executable, "-m", "kernelsec_nb", "load", str(tmp_path / "c.duckdb"),
                          str(tmp_path / "x.log"), "--json"], capture_output=True, text=True, check=True)
    totals = json.loads(out.stdout)
    assert {"files", "lines", "loaded", "quarantined", "duplicates", "blank", "per_source"} <= set(totals)
    assert totals["lines"] == 5 == totals["loaded"]
    bad = subprocess.run([sys.executable, "-m", "kernelsec_nb", "load", str(tmp_path / "c.duckdb"),
                          str(tmp_path / "missing")], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "missing" in bad.stderr
