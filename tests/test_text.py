"""Attacker text made safe to show: control characters and bidi marks become visible."""

import unicodedata

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


#: Every character that, shown raw, drives a terminal, reorders or hides text (issue 19 item 7).
HOSTILE = ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi
           "\u200b\u200c\u200d\u2060\ufeff\u00ad\U000e0041\u2028\u2029"  # zero-width, tags, separators
           "\r\x1b[31m\x1b]8;;x\x07\x1b[2J\x00\x7f\x85\x9b")  # CR, ANSI/OSC, NUL, DEL, C1


def hidden(ch: str) -> bool:
    return ch not in "\t\n" and (unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"} or ch in "\ufffe\uffff")


def test_every_control_format_and_bidi_character_is_shown_and_nothing_else():
    everything = "".join(map(chr, range(0x110000)))
    out = kn.shown(everything)
    assert len(out) == len(everything)  # one for one: columns stay aligned
    changed = [a for a, b in zip(everything, out, strict=True) if a != b]
    # format characters of Unicode versions newer than this Python's database are unassigned here
    newer = [c for c in changed if unicodedata.category(c) == "Cn" and c not in "\ufffe\uffff"]
    assert len(newer) <= 16
    assert [c for c in changed if c not in newer] == [c for c in everything if hidden(c)]
    assert not any(hidden(c) for c in kn.shown(HOSTILE))


def test_frames_show_every_text_column_like_strings_and_keep_the_rest():
    text = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000)
    assert shown_frame(pl.DataFrame({"a": [text]}))["a"][0] == kn.shown(text)
    df = pl.DataFrame({
        "pod" + HOSTILE: ["web" + HOSTILE, None],
        "labels": [[{"key": "app" + HOSTILE, "value": HOSTILE}], []],  # a MAP column
        "proc": [{"args\u202e": HOSTILE, "pid": 7}, None],
        "caps": pl.Series([["CAP\x00"], None], dtype=pl.List(pl.String)),
        "node": pl.Series(["n" + HOSTILE, "n"], dtype=pl.Categorical),
        "n": [1, 2]})
    out = kn.shown(df)
    assert isinstance(out, pl.DataFrame) and out.height == 2
    assert not any(hidden(c) for c in repr(out.rows()) + "".join(out.columns))
    row = out.row(0, named=True)
    assert row["pod" + kn.shown(HOSTILE)] == "web" + kn.shown(HOSTILE)
    assert row["labels"] == [{"key": "app" + kn.shown(HOSTILE), "value": kn.shown(HOSTILE)}]
    assert row["proc"] == {"args�": kn.shown(HOSTILE), "pid": 7} and out["proc"][1] is None
    assert (row["caps"], row["node"], row["n"]) == (["CAP␀"], "n" + kn.shown(HOSTILE), 1)
    assert kn.shown(df["pod" + HOSTILE]).to_list() == ["web" + kn.shown(HOSTILE), None]
    # two names told apart only by hidden characters stay two columns
    assert shown_frame(pl.DataFrame({"a\u200b": [1], "a\u200c": [2]})).columns == ["a�", "a�#2"]


def test_nested_values_and_other_objects():
    assert kn.shown({"k": ("a\r", ["\u202e"]), 1: None}) == {"k": ("a␍", ["�"]), 1: None}
    assert kn.shown(5) == 5 and kn.shown(None) is None
