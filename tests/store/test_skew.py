"""Clock skew between nodes, told from connections both nodes saw (store/_skew.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kernelsec_nb as kn
from kernelsec_nb.store import _skew
from tests.store.lines import hubble_flow

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _flows(offset_s: float, connections: int = 5) -> list[str]:
    lines = []
    for i in range(connections):
        t = T0 + timedelta(seconds=10 * i)
        lines.append(hubble_flow(sport=41000 + i, node="n1", time=_iso(t)))
        later = t + timedelta(seconds=offset_s, microseconds=300)  # + the packet's way across
        lines.append(hubble_flow(sport=41000 + i, node="n2", time=_iso(later)))
    return lines


def _load(folder, lines):
    folder.mkdir()
    f = folder / "flows.log"
    f.write_text("\n".join(lines) + "\n")
    case = kn.open_case(folder / "c.duckdb")
    return case.load(f, progress=False)


def test_skewed_clocks_are_reported(tmp_path):
    report = _load(tmp_path / "a", _flows(-2.0))
    assert len(report.clock_skew) == 1
    # one statement of skew: each node against the reference clock (issue 22), not node pairs
    assert report.clock_skew[0].startswith("clock skew: n1 reads about 2.00 s ahead of the reference clock (n2's")
    assert "from 5 connections" in report.clock_skew[0]
    assert report.to_dict()["warnings"] == report.clock_skew
    assert "warning: clock skew" in str(report)


def test_close_clocks_and_few_connections_say_nothing(tmp_path):
    assert _load(tmp_path / "a", _flows(0.05)).clock_skew == []  # 50 ms: under the threshold
    assert _load(tmp_path / "b", _flows(3.0, connections=2)).clock_skew == []  # too few to trust


def test_many_flows_are_sampled_by_connection(tmp_path, monkeypatch):
    monkeypatch.setattr(_skew, "SAMPLE_CONNECTIONS", 20)  # 200 flows: 1 connection in 10
    report = _load(tmp_path / "a", _flows(-2.0, connections=100))
    assert len(report.clock_skew) == 1 and "a 1 in 10 sample" in report.clock_skew[0]
    assert report.clock_skew[0].startswith("clock skew: n1 reads about 2.00 s ahead of the reference clock")


def test_a_load_with_nothing_new_still_tells_the_case_skew_and_so_do_the_findings(tmp_path):
    _load(tmp_path / "a", _flows(-2.0))
    case = kn.open_case(tmp_path / "a" / "c.duckdb")
    again = case.load(tmp_path / "a" / "flows.log", progress=False)
    assert again.total("loaded") == 0
    assert [w.split(" (")[0] for w in again.clock_skew] == ["clock skew: n1 reads about 2.00 s ahead of the reference clock"]
    notes = case.findings().notes
    assert any(n.startswith("clock skew: n1") and n.endswith("the findings compare times on the reference clock")
               for n in notes)
    case.close()


def test_skew_is_stated_one_way_in_the_load_report_and_the_findings(tmp_path):
    first = _load(tmp_path / "a", _flows(-2.0))
    case = kn.open_case(tmp_path / "a" / "c.duckdb")
    notes = [n for n in case.findings().notes if n.startswith("clock")]
    case.close()
    assert [w.split(" (")[0] for w in first.clock_skew] == [n.split(" (")[0] for n in notes]
