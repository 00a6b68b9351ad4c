"""Key-path/type signatures of events, for comparing generated and real data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

TYPES = {str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}


def key_paths(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(dotted path, type)``; lists add ``[]``; dict keys with dots kept."""
    if isinstance(obj, dict):
        if not obj:
            yield prefix, "dict"
        for k, v in obj.items():
            yield from key_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(obj, list):
        yield prefix + "[]", "list"
        for v in obj:
            yield from key_paths(v, prefix + "[]")
    else:
        yield prefix, TYPES[type(obj)]


def normalise(path: str) -> str:
    """Collapse map keys whose names are data (pod labels) into ``*``."""
    parts = path.split(".pod_labels.", 1)
    if len(parts) == 2:
        return parts[0] + ".pod_labels.*"
    return path


def kind_of(ev: dict[str, Any]) -> str | None:
    """Event kind used for the comparison, or ``None`` to skip."""
    if "flow" in ev:
        f = ev["flow"]
        if f.get("Type") == "L3_L4":
            return "hubble:L3_L4"
        l7 = f.get("l7", {})
        if "http" in l7:
            return "hubble:L7:http"
        if "dns" in l7:
            return "hubble:L7:dns"
        return None
    if "rule" in ev and "output" in ev:
        return "falco"
    for k in ("process_exec", "process_exit", "process_kprobe"):
        if k in ev:
            return f"tetragon:{k}"
    return None


def signature(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """Per kind: path -> set of observed types."""
    out: dict[str, dict[str, set[str]]] = {}
    for ev in events:
        kind = kind_of(ev)
        if kind is None:
            continue
        sig = out.setdefault(kind, {})
        for path, typ in key_paths(ev):
            sig.setdefault(normalise(path), set()).add(typ)
    return out


def public_events(root: Path) -> Iterator[dict[str, Any]]:
    """Every event of the public samples (NDJSON files and pretty-printed ones)."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in (".json", ".log"):
            continue
        text = path.read_text()
        if text.lstrip().startswith("{") and "\n{" not in text.strip() and not text.strip(
        ).count("\n") == 0:
            try:
                yield json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        for line in text.splitlines():
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
