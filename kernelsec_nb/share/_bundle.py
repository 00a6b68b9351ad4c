"""Write a share bundle: the selected rows' raw lines, redacted, loaded into a new case.

The bundle is a folder::

    DIR/case.duckdb          a case made by the normal load of the files below
    DIR/exports/<name>.ndjson  the selected raw lines of each original file, redacted, in order
    DIR/manifest.json        the selection, the rules, every line's original and bundle event_id,
                             and every replacement (file, line, JSON path, kind; never the secret)

Because the bundle case is made by ``case.load`` of the written files, every invariant of a
case holds in it (line accounting, provenance, the processes table).  Its paths are stored
relative to the case file, so the folder can be moved or sent as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelsec_nb.share._redact import Redacted, known_pattern, redact_line
from kernelsec_nb.share._rules import Rule, resolve
from kernelsec_nb.store import _decompress, _derived, _ids, _lines, filters

# The rows the filters pick in every event table (flows by either endpoint), then the exec and
# exit events of every process they name and of all its ancestors, so process trees still work.
_PICK_SQL = """
WITH RECURSIVE picked AS (
    SELECT event_id FROM events WHERE {events_cond}
    UNION SELECT event_id FROM flows WHERE {flows_cond}
    -- an incident's own processes and evidence, wherever they ran (a node's host too)
    UNION SELECT event_id FROM events
    WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) AND ({window_cond})
    UNION SELECT event_id FROM events WHERE event_id IN (SELECT unnest(?::VARCHAR[]))
),
named AS (
    SELECT exec_id FROM events WHERE event_id IN (SELECT event_id FROM picked) AND exec_id IS NOT NULL
    UNION SELECT parent_exec_id FROM events
    WHERE event_id IN (SELECT event_id FROM picked) AND parent_exec_id IS NOT NULL
),
ancestry(exec_id) AS (
    SELECT exec_id FROM named
    UNION SELECT p.parent_exec_id FROM processes p JOIN ancestry a ON p.exec_id = a.exec_id
    WHERE p.parent_exec_id IS NOT NULL
),
chosen AS (
    SELECT event_id, false AS ancestry FROM picked
    UNION ALL
    SELECT event_id, true FROM process_events
    WHERE kind IN ('process_exec', 'process_exit') AND exec_id IN (SELECT exec_id FROM ancestry)
      AND event_id NOT IN (SELECT event_id FROM picked)
)
SELECT DISTINCT ON (e.event_id) e.event_id, e.file, e.line, e.byte_offset, f.format, c.ancestry
FROM chosen c JOIN events e USING (event_id) JOIN files f ON f.path = e.file
ORDER BY e.event_id
"""


class ShareError(Exception):
    """A share bundle that cannot be written (the folder is not empty, nothing selected, …)."""


@dataclass
class ShareResult:
    """What :func:`share` wrote and the accounting of it."""

    out_dir: str
    case: str
    selected: int
    ancestry: int
    lines_written: int
    loaded: int
    duplicates: int
    quarantined: int
    replacements: dict[str, int] = field(default_factory=dict)
    files: int = 0
    notes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.replacements.items())) or "none"
        return (f"share bundle {self.out_dir}: {self.selected} rows selected ({self.ancestry} of them process "
                f"ancestry) from {self.files} file(s); {self.lines_written} lines written, {self.loaded} loaded, "
                f"{self.duplicates} duplicates after redaction, {self.quarantined} quarantined; "
                f"replacements: {kinds}; {self.notes} note(s) kept")


def _source_path(case: Any, file: str) -> Path:
    p = Path(file)
    if not p.is_absolute() and case.path != ":memory:":
        p = Path(case.path).parent / p
    return p


def _by_file(rows: list[tuple]) -> dict[str, list[tuple]]:
    """file → [(byte_offset, line, event_id, format)] in file order."""
    by_file: dict[str, list[tuple]] = {}
    for event_id, file, line, offset, fmt, _ in rows:
        by_file.setdefault(file, []).append((int(offset), int(line), event_id, fmt))
    for items in by_file.values():
        items.sort()
    return dict(sorted(by_file.items()))


def _read_file(case: Any, file: str, items: list[tuple]) -> Iterator[tuple[int, str, str]]:
    """(line, event_id, text) of the picked records of ``file``, each checked against its event_id
    (read as the case reads a raw line; one pass over the file, streamed)."""
    from kernelsec_nb.store.case import CaseError

    path = _source_path(case, file)
    if not path.exists():
        raise CaseError(f"{file} is no longer there; its lines cannot be shared")

    def records() -> Iterator[tuple[int, str, str]]:
        if items[0][3] == "json-documents":
            for off, ln, eid, _ in items:
                yield ln, eid, _lines.read_record(path, off, True)
            return
        with _decompress.open_export(path, seekable=True) as f:
            for off, ln, eid, _ in items:
                f.seek(off)
                yield ln, eid, f.readline(_lines.MAX_LINE_BYTES + 1).decode("utf-8", errors="replace").rstrip("\r\n")

    for ln, eid, text in records():
        if _ids.event_id(text.rstrip(_lines.TRAILING_WS).encode()) != eid:
            raise CaseError(f"{file} changed since it was loaded: line {ln} is not event {eid}")
        yield ln, eid, text


def _names(case: Any, files: Sequence[str]) -> dict[str, str]:
    """Each original file → its name in the bundle: relative to the folder all of them are in."""
    paths = {f: _source_path(case, f).resolve() for f in files}
    base = Path(os.path.commonpath([p.parent for p in paths.values()])) if paths else Path()
    return {f: (p.relative_to(base).as_posix() + ".ndjson") for f, p in paths.items()}


@dataclass(frozen=True)
class Selection:
    """What a bundle holds: the events of ``pods`` (None: every pod; empty: none) between ``since``
    and ``until``, the events of the processes ``exec_ids`` in that window wherever they ran,
    and the events ``event_ids``; each with its processes' ancestry."""

    pods: list[str] | None
    since: Any = None
    until: Any = None
    exec_ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()


def _selection(case: Any, chosen: Selection) -> list[tuple]:
    window: dict[str, Any] = {"since": chosen.since, "until": chosen.until}
    if chosen.pods is not None and not chosen.pods:  # no pod: only the named processes and events
        events_cond = flows_cond = "false"
        events_params: list = []
        flows_params: list = []
    else:
        flt = {"pod": list(chosen.pods) if chosen.pods else None, **window}
        events_cond, events_params = filters.where("events", **flt)
        flows_cond, flows_params = filters.where("flows", **flt)
    window_cond, window_params = filters.where("events", **window)
    sql = _PICK_SQL.format(events_cond=events_cond, flows_cond=flows_cond, window_cond=window_cond)
    return case.con.execute(sql, [*events_params, *flows_params, list(chosen.exec_ids), *window_params,
                                  list(chosen.event_ids)]).fetchall()


def incident_window(case: Any, incident: int) -> Selection:
    """What a bundle of incident ``incident`` of ``case.findings()`` (1: the first, the top-ranked)
    holds: the pod it entered and the pods it reached, from 5 minutes before its entry process
    started to the end of the capture, and its own processes (exec chain, key command, the
    processes it had in the pods and hosts it reached) and evidence wherever they ran — a node's
    host included, where an escape took it."""
    incidents = case.findings().incidents
    if not incidents:
        raise ShareError("the findings have no incident in this case: give --pods/--since/--until")
    if not 1 <= incident <= len(incidents):
        raise ShareError(f"incident {incident}: the findings have {len(incidents)} incident(s) (1 to {len(incidents)})")
    i = incidents[incident - 1]
    since = None
    if i.entry is not None:
        start = case.sql("SELECT start_ns FROM processes WHERE exec_id = ?", [i.entry.exec_id])
        if start.height and start["start_ns"][0] is not None:
            since = int(start["start_ns"][0]) - 5 * 60 * 10**9
    pods = list(dict.fromkeys(p for p in [i.pod, *(r.pod for r in i.reached)] if p))
    exec_ids = [*i.chain, *(x.exec_id for x in (i.entry, i.key_command) if x is not None),
                *(e for r in i.reached for e in r.exec_ids)]
    evidence = i.evidence["event_id"].to_list() if "event_id" in i.evidence.columns else []
    return Selection(pods, since, None, tuple(dict.fromkeys(exec_ids)), tuple(dict.fromkeys(evidence)))


def _copy_notes(case: Any, bundle: Any, id_map: dict[str, str], rules: Sequence[Rule]) -> int:
    """Copy the annotations whose target is in the bundle (event targets renamed to the bundle's
    event_id), their text redacted.  Nothing when either case has no annotations table."""
    have = "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'annotations'"
    if not case.con.execute(have).fetchall():
        return 0
    rows = case.sql("SELECT * FROM annotations")
    if not rows.height or "target" not in rows.columns:
        return 0
    if not bundle.con.execute(have).fetchall():  # a case made by a version without notes: same columns
        cols = case.con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                                "current_database() AND table_name = 'annotations' ORDER BY column_index").fetchall()
        bundle.con.execute("CREATE TABLE annotations (" + ", ".join(f'"{c}" {t}' for c, t in cols) + ")")
    execs = set(bundle.sql("SELECT exec_id FROM processes")["exec_id"].to_list())
    keep = []
    for r in rows.iter_rows(named=True):
        target = r["target"]
        if r.get("target_kind") == "exec":
            if target not in execs:
                continue
        elif target in id_map:
            r["target"] = id_map[target]
        else:
            continue
        for col in ("tag", "note", "author"):
            if rules and isinstance(r.get(col), str):  # redacted as a JSON string, so escapes stay valid
                r[col] = json.loads(redact_line(json.dumps(r[col]), rules).text)
        keep.append(r)
    cols = [c for c in rows.columns if c in set(bundle.sql("SELECT * FROM annotations LIMIT 0").columns)]
    quoted = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    for r in keep:
        bundle.con.execute(f"INSERT INTO annotations ({quoted}) VALUES ({marks})",  # noqa: S608 - our columns
                           [r[c] for c in cols])
    return len(keep)


def _relativize(bundle: Any, root: Path) -> None:
    """Store the bundle's file paths relative to its case file (the folder can be moved)."""
    con = bundle.con
    prefix = str(root.resolve()) + os.sep
    tables = [t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_columns() WHERE database_name = current_database() AND column_name = 'file' "
        "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = current_database())"
    ).fetchall()]
    for t in tables:
        con.execute(f"UPDATE {t} SET file = substr(file, ?) WHERE starts_with(file, ?)",  # noqa: S608
                    [len(prefix) + 1, prefix])
    rows = con.execute("SELECT * FROM files").fetchall()
    con.execute("DELETE FROM files")
    for r in rows:
        path = r[0][len(prefix):] if r[0].startswith(prefix) else r[0]
        con.execute(f"INSERT INTO files VALUES ({', '.join('?' for _ in r)})", [path, *r[1:]])  # noqa: S608
    # the derived tables' mark names the files by path: made again for the relative names (else
    # every later open would take the bundle for a case a crash left stale)
    _derived.refresh(con)


def share(case: Any, out_dir: str | Path, *, pods: Sequence[str] | str | None = None, since: Any = None,
          until: Any = None, incident: int | None = None, redact: str | Path | None = "default") -> ShareResult:
    """Write a redacted share bundle of ``case`` into ``out_dir`` (see :meth:`Case.share`)."""
    from kernelsec_nb.store.case import open_case

    rules = resolve(redact)
    if isinstance(pods, str):
        pods = [pods]
    if incident is not None:
        if pods or since is not None or until is not None:
            raise ShareError("give either an incident or pods/since/until, not both")
        chosen = incident_window(case, incident)
    else:
        chosen = Selection(list(pods) if pods else None, since, until)
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ShareError(f"{out} exists and is not an empty folder; a bundle is written into a new folder")
    rows = _selection(case, chosen)
    if not rows:
        raise ShareError(f"nothing selected: no event of pod(s) {', '.join(chosen.pods or ['any'])} "
                         "in this time window")
    texts = _by_file(rows)
    names = _names(case, list(texts))

    # pass 1 finds the secrets; pass 2 also replaces them wherever else they appear.  The files
    # are read twice, streamed: only the lines pass 1 changed are kept in memory.
    known = None
    first: dict[tuple[str, int], Redacted] = {}
    if rules:
        secrets: set[str] = set()
        for file, items in texts.items():
            for line, _, text in _read_file(case, file, items):
                red = redact_line(text, rules)
                if red.replacements:
                    first[file, line] = red
                    secrets |= red.secrets
        known = known_pattern(secrets)

    try:  # a bundle half written (a changed export, Ctrl-C) is removed: the folder was new or empty
        out.mkdir(parents=True, exist_ok=True)
        manifest_lines, replacements, id_map = [], [], {}
        kinds: Counter[str] = Counter()
        written = 0
        for file, items in texts.items():
            target = out / "exports" / names[file]
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as fh:
                for n, (line, eid, text) in enumerate(_read_file(case, file, items), 1):
                    if known is not None:
                        red = redact_line(text, rules, known)
                    elif (file, line) in first:
                        red = first[file, line]
                    elif "\n" in text or "\r" in text:  # a pretty-printed record is written on one line
                        red = redact_line(text, ())
                    else:
                        red = Redacted(text)
                    fh.write(red.text + "\n")
                    new_id = _ids.event_id(red.text.rstrip(_lines.TRAILING_WS).encode())
                    id_map[eid] = new_id
                    written += 1
                    entry = {"file": names[file], "line": line, "event_id": eid,
                             "bundle_line": n, "bundle_event_id": new_id}
                    if red.reformatted:
                        entry["reformatted"] = True
                    manifest_lines.append(entry)
                    for r in red.replacements:
                        kinds[r.kind] += 1
                        replacements.append({"file": names[file], "line": line, "bundle_line": n, **r.to_dict()})
        case_path = out / "case.duckdb"
        with open_case(case_path) as bundle:
            report = bundle.load(out / "exports", progress=False)
            _relativize(bundle, out)
            notes = _copy_notes(case, bundle, id_map, rules)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    picked_ancestry = sum(1 for r in rows if r[5])
    manifest = {
        "kernelsec_nb_share": 1,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "selection": {"pods": chosen.pods,
                      "since": None if chosen.since is None else filters.to_ns(chosen.since),
                      "until": None if chosen.until is None else filters.to_ns(chosen.until),
                      "incident": incident, "incident_processes": len(chosen.exec_ids),
                      "process_ancestry_rows": picked_ancestry},
        "redaction": {"mode": "none" if not rules else ("default" if str(redact) == "default" else "rules file"),
                      # names and kinds only: a user's pattern may spell out the secret it removes
                      "rules": [{"name": r.name, "kind": r.kind, "applies_to": r.applies_to} for r in rules],
                      "note": "lines are checkable: event_id is the hash of the original line (check it against "
                              "the original export), bundle_event_id the hash of the line in this bundle"},
        "files": [{"original": names[f], "bundle": f"exports/{names[f]}", "lines": len(items)}
                  for f, items in texts.items()],
        "lines": manifest_lines,
        "replacements": replacements,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return ShareResult(out_dir=str(out), case=str(case_path), selected=len(rows), ancestry=picked_ancestry,
                       lines_written=written, loaded=report.total("loaded"), duplicates=report.total("duplicates"),
                       quarantined=report.total("quarantined"), replacements=dict(kinds), files=len(texts),
                       notes=notes)
