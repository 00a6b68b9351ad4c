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
