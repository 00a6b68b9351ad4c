"""The load report as text: every line accounted for, attacker text shown and not obeyed."""

import kernelsec_nb as kn


def test_the_report_text_shows_control_characters_instead_of_sending_them(tmp_path):
    # a JSON key of a file that is not an export is quoted in the error; it must not drive a terminal
    bad = tmp_path / "notexport.json"
    bad.write_text('{"\\u001b[2J\\u001b]8;;http://evil\\u0007CLICK\\r\\u202eKEY": 1}\n')
    with kn.open_case() as case:
        report = case.load(bad, progress=False)
    text = str(report)
    assert "␛[2J" in text and "␍" in text
    assert not any(ch in text for ch in "\x1b\x07\r\u202e")
    assert "\x1b" not in report._repr_html_()


def _as_stored(report):
    """What a case keeps of a load's report: the files it holds, without the values it changed."""
    import dataclasses

    return [dataclasses.replace(f, warnings={}) for f in report.files if f.status in ("loaded", "damaged")]


def test_load_report_of_a_case_is_what_its_loads_reported(tmp_path):
    import gzip

    from tests.store.lines import hubble_flow, sample_lines

    x = tmp_path / "exports"
    x.mkdir()
    data = ("\n".join(sample_lines()) + "\n").encode()
    (x / "a.log").write_bytes(data + b'{"cut": \n\n')        # a quarantined line, a blank one
    (x / "empty.log").write_text("")
    (x / "blank.log").write_text("\n\n")
    whole = gzip.compress(("\n".join([hubble_flow(sport=p) for p in range(40000, 41000)]) + "\n").encode(), mtime=0)
    (x / "cut.gz").write_bytes(whole[: len(whole) // 2])      # damaged: its reason kept
    (x / "again.log").write_bytes(data)                        # already loaded: not held
    with kn.open_case(tmp_path / "c.duckdb") as case:
        first = case.load([x / "a.log", x / "empty.log"], progress=False)
        second = case.load(x, progress=False)
        held = case.load_report()
    assert {f.status for f in second.files} >= {"damaged", "already loaded", "loaded"}
    want = _as_stored(first) + [f for f in _as_stored(second) if f.path not in {g.path for g in first.files}]
    assert held.files == want                                        # each file as its load counted it, in order
    assert [f.path for f in held.files if f.status == "damaged" and "cut short" in f.message] == [str(x / "cut.gz")]
    assert held.clock_skew == second.clock_skew and held.notes == []
    with kn.open_case(tmp_path / "c.duckdb", read_only=True) as case:  # read-only too
        assert case.load_report().files == want
