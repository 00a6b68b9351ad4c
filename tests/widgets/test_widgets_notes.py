"""The Explorer's tag/note box, driven through the widget's state."""

from __future__ import annotations

import kernelsec_nb as kn


def test_the_note_box_tags_the_selected_event(case) -> None:
    ex = kn.widgets.Explorer(case)
    assert ex.note_box.button.disabled  # nothing selected yet
    eid = case.sql("SELECT event_id FROM events WHERE kind = 'alert'")["event_id"][0]
    ex.row.options = [eid]
    ex.row.value = eid
    assert ex.note_box.target == eid and not ex.note_box.button.disabled
    assert "none" in ex.note_box.marks.value
    ex.note_box.tags.value = "c2, exfil"
    ex.note_box.note.value = "shell <script>alert(1)</script>\u202e"
    ex.note_box.button.click()
    notes = case.notes(target=eid)
    assert sorted(notes["tag"].to_list()) == ["c2", "exfil"]
    assert notes["note"][0] == "shell <script>alert(1)</script>\u202e"  # kept as written
    marks = ex.note_box.marks.value
    assert "c2" in marks and "&lt;script&gt;" in marks and "<script>" not in marks and "\u202e" not in marks
    assert ex.note_box.tags.value == "" and case.events(tag="exfil")["event_id"].to_list() == [eid]


def test_the_note_box_is_read_only_on_a_read_only_case(case) -> None:
    eid = case.sql("SELECT event_id FROM events LIMIT 1")["event_id"][0]
    case.read_only = True  # as kn.open_case(path, read_only=True) makes it (the fixture is in memory)
    ex = kn.widgets.Explorer(case)
    ex.row.options = [eid]
    ex.row.value = eid
    assert ex.note_box.button.disabled and "read-only" in ex.note_box.marks.value
