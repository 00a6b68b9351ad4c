"""Attacker text made safe to show: control characters and bidi marks become visible."""

import polars as pl

import kernelsec_nb as kn
from kernelsec_nb._text import shown_frame, shown_spec


def test_controls_become_pictures_and_plain_text_is_untouched():
    assert kn.shown("a\x1b[2J\x07\x00\r\x7f") == "a␛[2J␇␀␍␡"
    assert kn.shown("\u202eevil\u2066\x9b\ufffe") == "�evil���"
    plain = "curl -s http://x/é?q=1\tand\nmore ✓"
    assert kn.shown(plain) == plain


def test_frames_and_specs():
    df = pl.DataFrame({"args": ["x\x1b"], "caps": [["CAP\x00"]], "n": [1]})
    assert shown_frame(df).rows() == [("x␛", ["CAP␀"], 1)]
    assert shown_spec({"k\r": ["v\x1b", 1, None, {"t": "\u202e"}]}) == {"k␍": ["v␛", 1, None, {"t": "�"}]}
