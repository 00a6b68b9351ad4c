"""No absolute path of the analyst's machine in a report (issue 22): the manifest and the load
report name files relative to the loaded folder, with their hashes."""

from __future__ import annotations

import shutil
from pathlib import Path

import kernelsec_nb as kn
from kernelsec_nb.report import render_module

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "data" / "deathstar" / "kind-worker"


def test_manifest_names_files_under_the_loaded_folder_and_the_case_by_name(tmp_path):
    home = tmp_path / "home" / "analyst" / "incident"
    inputs = [{"path": str(home / "exports" / n / "tetragon.log"), "sha256": "ab" * 32, "lines": 3}
              for n in ("node-a", "node-b")]
    html = render_module._manifest_html({"case": str(home / "case.duckdb"), "notebook": "n.ipynb",
                                         "notebook_sha256": "x", "rendered_at": "t", "inputs": inputs,
                                         "versions": {}})
    assert str(tmp_path) not in html and "/home/analyst" not in html
    assert "exports/node-a/tetragon.log" in html and "case.duckdb" in html and "ab" * 32 in html


def test_the_load_report_prints_paths_relative_to_the_loaded_folder(tmp_path):
    folder = tmp_path / "deep" / "er" / "capture"
    shutil.copytree(NODE_DIR, folder / "kind-worker")
    (folder / "up").symlink_to(tmp_path)  # a message naming folders outside
    with kn.open_case() as case:
        report = case.load(folder, progress=False)
    text = report.text(relative=True)
    assert str(tmp_path) not in text, text
    assert "capture/kind-worker/tetragon.log" in text
    assert str(folder) in str(report)  # the terminal's print keeps the paths the analyst gave
