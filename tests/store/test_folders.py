"""Folders as an attacker (or an accident) may leave them: symlink loops, links to devices and out of
the folder, FIFOs, symlinked subfolders.  Every load runs in a subprocess with a timeout, so a
regression that hangs (a FIFO, ``/dev/urandom``) fails the test instead of the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.store.lines import falco_alert, sample_lines

TIMEOUT = 60


def write(path, lines=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sample_lines() if lines is None else lines) + "\n")
    return path


def load(tmp_path, *paths, follow=False, case="case.duckdb") -> tuple[int, dict, str]:
    """``kernelsec-nb load --json --per-file`` in a subprocess: exit status, JSON, stderr."""
    args = [sys.executable, "-m", "kernelsec_nb", "load", str(tmp_path / case),
            *map(str, paths), "--json", "--per-file", *(["--follow-links"] if follow else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the load did not finish in {TIMEOUT} s: {paths}")
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else {}, out.stderr


def rows(report: dict, status: str) -> dict[str, str]:
    return {os.path.basename(f["path"]): f["message"] for f in report["per_file"] if f["status"] == status}


def test_symlink_loops_are_skipped_rows_not_a_runtime_error(tmp_path):
    root = tmp_path / "exports"
    write(root / "node1" / "tetragon.log")
    (root / "node1" / "again").symlink_to(root)  # a folder link back up: a loop
    (root / "a.log").symlink_to(root / "b.log")  # two file links pointing at each other
    (root / "b.log").symlink_to(root / "a.log")
    code, report, err = load(tmp_path, root)
    assert code == 0, err
    assert report["loaded"] == 5 and report["files"] == 1
    skipped = rows(report, "skipped")
    assert set(skipped) == {"again", "a.log", "b.log"}
    assert skipped["again"].startswith("a symlink loop: it leads back to ") and str(root) in skipped["again"]
    assert all("symlink loop" in skipped[n] for n in ("a.log", "b.log"))
    assert report["skipped"] == [f for f in
                                 ({"path": r["path"], "message": r["message"]} for r in report["per_file"])
                                 if os.path.basename(f["path"]) in skipped]


def test_a_link_to_dev_urandom_is_never_read(tmp_path):
    root = tmp_path / "exports"
    write(root / "good.log")
    (root / "random.log").symlink_to("/dev/urandom")
    code, report, err = load(tmp_path, root)
    assert code == 0 and report["loaded"] == 5, err
    assert "outside" in rows(report, "skipped")["random.log"]
    # followed on request, it is still a device: refused, not read for ever
    code, report, err = load(tmp_path, root, follow=True)
    message = rows(report, "skipped")["random.log"]
    assert "/dev/urandom" in message and "a character device, not a regular file" in message
    # named on the command line: an error row, not read
    code, report, err = load(tmp_path, root / "random.log")
    assert code == 1 and "is a character device, not a regular file: refused" in rows(report, "error")["random.log"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_never_opened(tmp_path):
    root = tmp_path / "exports"
    write(root / "good.log")
    os.mkfifo(root / "pipe.log")
    code, report, err = load(tmp_path, root)
    assert code == 0 and report["loaded"] == 5, err
    assert rows(report, "skipped")["pipe.log"] == "a FIFO, not a regular file: never read"
    # named on the command line: an error row (exit status 1), not a hang
    code, report, err = load(tmp_path, root / "pipe.log")
    assert code == 1 and report["files"] == 1
    assert "is a FIFO, not a regular file: refused" in rows(report, "error")["pipe.log"]
    # matched by a pattern: a skipped row
    code, report, err = load(tmp_path, root / "*.log")
    assert "pipe.log" in rows(report, "skipped") and report["loaded"] == 0  # good.log: loaded before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_every_read_opens_only_regular_files(tmp_path):
    """A FIFO put in place of a listed file after it was listed: the open does not wait."""
    os.mkfifo(tmp_path / "pipe")
    code = ("import sys; from pathlib import Path; from kernelsec_nb.store import _decompress\n"
            "try:\n    _decompress.is_gzip(Path(sys.argv[1]))\nexcept OSError as e:\n    print(e.strerror)")
    try:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pipe")], capture_output=True,
                             text=True, timeout=TIMEOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    except subprocess.TimeoutExpired:
        pytest.fail("opening a FIFO blocked")
    assert out.stdout.strip() == "a FIFO, not a regular file: never read", out.stderr


def test_symlinked_subfolders_inside_are_read_outside_only_on_request(tmp_path):
    root = tmp_path / "exports"
    write(root / "2024-05-14" / "tetragon.log")
    (root / "latest").symlink_to(root / "2024-05-14")  # inside the folder: the same files, read once
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "falco.log", [falco_alert("curl")])
    (root / "node2").symlink_to(elsewhere)  # a folder outside: not followed without asking
    code, report, err = load(tmp_path, root)
    assert code == 0 and report["loaded"] == 5 and report["files"] == 1, err
    skipped = rows(report, "skipped")
    assert skipped["latest"].startswith("the same folder as ") and "2024-05-14" in skipped["latest"]
    assert skipped["node2"].startswith(f"a link to a folder outside {root} ({elsewhere})")
    code, report, err = load(tmp_path, root, follow=True, case="followed.duckdb")
    assert code == 0 and report["files"] == 2 and report["loaded"] == 6, err
    assert "node2" not in rows(report, "skipped")


def test_a_link_out_of_the_folder_is_not_read_nor_quoted(tmp_path):
    secret = write(tmp_path / "home" / "config.json", ['{"top_secret_password": "hunter2"}'])
    root = tmp_path / "exports"
    write(root / "good.log")
    (root / "evil.json").symlink_to(secret)
    code, report, err = load(tmp_path, root)
    assert code == 0 and report["loaded"] == 5, err
    assert "top_secret_password" not in json.dumps(report) and "hunter2" not in json.dumps(report)
    assert "not followed" in rows(report, "skipped")["evil.json"]
    # a link inside the folder to a file inside it is read (once)
    (root / "alias.log").symlink_to(root / "good.log")
    code, report, err = load(tmp_path, root, case="alias.duckdb")
    assert report["files"] == 1 and report["loaded"] == 5 and "alias.log" not in rows(report, "skipped")


def test_a_recursive_pattern_does_not_follow_loops(tmp_path):
    root = tmp_path / "exports"
    write(root / "n1" / "tetragon.log")
    for name in ("up1", "up2", "up3"):  # glob's own ** would follow each: 3**40 paths
        (root / "n1" / name).symlink_to(root)
    code, report, err = load(tmp_path, root / "**" / "*.log")
    assert code == 0 and report["loaded"] == 5, err


def test_the_printed_report_names_each_skipped_entry(tmp_path):
    import kernelsec_nb as kn

    root = tmp_path / "exports"
    write(root / "good.log")
    (root / "up").symlink_to(tmp_path)
    with kn.open_case() as case:
        report = case.load(root, progress=False)
    assert [f.path for f in report.skipped] == [str(root / "up")]
    assert report.to_dict()["files"] == 1 and list(report.per_source()) == ["falco+hubble+tetragon"]
    text = str(report)
    assert f"skipped: a link to a folder outside {root} ({tmp_path}): not followed" in text
    assert "total (1 files)" in text
