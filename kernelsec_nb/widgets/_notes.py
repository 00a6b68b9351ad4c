"""The Explorer's tag/note box: tag the selected event, see the team's marks on it.

Examples
--------
>>> import kernelsec_nb as kn
>>> box = NoteBox(kn.open_case())
>>> box.target is None, box.button.disabled
(True, True)
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from kernelsec_nb._text import shown


class NoteBox(w.VBox):
    """Tags (comma-separated) and a note for :attr:`target` (an event_id), saved with ``case.tag``."""

    def __init__(self, case: Any) -> None:
        self.case = case
        self.target: str | None = None
        self.tags = w.Text(placeholder="tags, comma-separated (e.g. c2, exfil)", description="tags",
                           layout=w.Layout(width="420px"))
        self.note = w.Text(placeholder="a note (optional)", description="note", layout=w.Layout(width="480px"))
        self.button = w.Button(description="tag event", disabled=True)
        self.marks = w.HTML()
        self.button.on_click(lambda _: self.save())
        super().__init__([w.HBox([self.tags, self.note, self.button]), self.marks])

    def show(self, event_id: str | None) -> None:
        """Point the box at ``event_id`` and list the marks the team put on it (and on its process)."""
        self.target = event_id
        self.button.disabled = event_id is None or bool(getattr(self.case, "read_only", False))
        self.marks.value = self._marks_html() if event_id else ""

    def _marks_html(self) -> str:
        exec_id = self.case.con.execute("SELECT exec_id FROM events WHERE event_id = ? LIMIT 1",
                                        [self.target]).fetchall()
        targets = [self.target] + ([exec_id[0][0]] if exec_id and exec_id[0][0] else [])
        notes = self.case.notes(target=targets)
        ro = " (the case is open read-only: open it for writing to tag)" if self.case.read_only else ""
        if not notes.height:
            return f"<p><b>marks</b>: none{ro}</p>"
        rows = "".join(
            f"<li>{html.escape(shown(r['tag'] or '(note)'))} "
            f"<i>{html.escape(shown(r['note'] or ''))}</i> — {html.escape(shown(r['author'] or ''))}"
            f"{' (its process)' if r['target_kind'] == 'exec' else ''}</li>"
            for r in notes.iter_rows(named=True))
        return f"<p><b>marks</b>{ro}:</p><ul>{rows}</ul>"

    def save(self) -> None:
        """Tag :attr:`target` with the box's tags and note (what the button does)."""
        if self.target is None:
            return
        tags = [t.strip() for t in self.tags.value.split(",") if t.strip()]
        note = self.note.value.strip() or None
        if not tags and note is None:
            self.marks.value = "<p>write a tag or a note first</p>" + self._marks_html()
            return
        self.case.tag(self.target, tags, note=note)
        self.tags.value = self.note.value = ""
        self.marks.value = self._marks_html()
