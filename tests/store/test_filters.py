"""The filter vocabulary: regexes judged by the engine that runs them, pod names taken literally."""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.correlate._frames import filter_frame
from kernelsec_nb.store import filters
from tests.store.lines import tetragon_exec


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("filters")
    lines = [tetragon_exec(pid=100, binary="/bin/kill", pod="web(1)"),
             tetragon_exec(pid=101, binary="/bin/killall", pod="web1"),
             tetragon_exec(pid=102, binary="/usr/bin/curl", pod="web-2")]
    (folder / "t.log").write_text("\n".join(lines) + "\n")
    c = kn.open_case()
    c.load(folder / "t.log", progress=False)
    yield c
    c.close()


@pytest.mark.parametrize("pattern", ["kill(?=$)", r"(k)\1", r"kill\Z", "(?<!x)kill"])
def test_a_regex_python_accepts_but_re2_refuses_is_a_value_error(case, pattern):
    re.compile(pattern)  # Python's re takes it ...
    with pytest.raises(ValueError, match=r"^filter binary: .* is not a regular expression DuckDB can run"):
        case.processes(binary=pattern)  # ... DuckDB's RE2 does not: a ValueError, not InvalidInputException
    with pytest.raises(ValueError, match="^filter args: "):
        case.events(args=[r"ok", pattern])
    with pytest.raises(ValueError, match="^filter fqdn: "):
        filters.where("flows", fqdn=re.compile(pattern))
    frame = pl.DataFrame({"exec_id": ["a"], "binary": ["kill"], "args": [""], "start_ns": [1]})
    with pytest.raises(ValueError, match="^filter binary: "):
        filter_frame(duckdb.connect(), frame, "processes", binary=pattern)


def test_valid_regexes_still_run(case):
    assert case.processes(binary="kill$")["binary"].to_list() == ["/bin/kill"]
    assert case.processes(binary=re.escape("/bin/kill"))["binary"].to_list() == ["/bin/kill", "/bin/killall"]
    # a compiled pattern's flags reach RE2 as inline flags
    assert case.processes(binary=re.compile("KILL$", re.IGNORECASE))["binary"].to_list() == ["/bin/kill"]
    with pytest.raises(ValueError, match="re.VERBOSE"):
        case.processes(binary=re.compile("kill", re.VERBOSE))


def test_a_pod_name_with_regex_characters_is_that_pod(case):
    assert case.processes(pod="web(1)")["pod"].to_list() == ["web(1)"]  # not the regex web(1) → web1
    assert case.events(pod=["web(1)", "nothing"])["pod"].to_list() == ["web(1)"]
    assert case.processes(pod="web")["pod"].sort().to_list() == ["web(1)", "web-2", "web1"]  # a prefix, as before
    assert case.processes(pod=re.compile(r"^web\d$"))["pod"].to_list() == ["web1"]  # a regex when asked for
    with pytest.raises(ValueError, match="^filter pod: "):
        case.processes(pod=re.compile(r"(w)\1"))


def test_load_path_error_is_public(tmp_path):
    assert "LoadPathError" in kn.__all__
    with kn.open_case() as c, pytest.raises(kn.LoadPathError, match="no such file"):
        c.load(tmp_path / "missing.log", progress=False)


@pytest.mark.parametrize(("given", "message"), [
    ({"verdict": 123}, "^filter verdict: a text"),
    ({"port": -1}, "^filter port: a whole number"),
    ({"port": "eighty"}, "^filter port: a whole number"),
    ({"pod": {"a": 1}}, "^filter pod: a value or a list of values, not a dict"),
    ({"since": "2024-05-15", "until": "2024-05-14"}, "^filter since .* is after until"),
    ({"window": "5m"}, "^filter window: .* give around="),
])
def test_a_filter_value_that_can_match_nothing_is_an_error_not_zero_rows(given, message):
    """Each of these returned 0 rows (or, for window alone, every row) without a word."""
    with pytest.raises(ValueError, match=message):
        filters.where("flows", **given)


def test_filter_values_of_the_right_kind_still_pass():
    assert set(filters.where("flows", port=["80", 443.0])[1]) == {80, 443}
    assert filters.where("flows", verdict=["DROPPED", "forwarded"])[1] == ["DROPPED", "forwarded"]
    assert filters.where("events", around="2024-05-14T08:00Z", window="1m")[0].count("?") == 2
