"""Whether a part's act is corroborated by a detection on its own line.

A part with one kind of act is an incident only with a detection that speaks for that act: on the
acting process, on what led to it (its parent, the connection or file that started it), or on what
it led to (its children, the process that ran the file it wrote) — along the part's causal links.
A detection on a parallel branch of the same part says nothing about the act: a build job's
package manager does not make the same job's upload suspicious.

Examples
--------
>>> links = {"proc:sh": ["proc:cargo", "proc:curl"]}
>>> corroborated(links, acts={"curl"}, detections={"cargo"})
False
>>> corroborated(links, acts={"curl"}, detections={"sh"})
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence


def _reach(nxt: Mapping[str, Sequence[str]], starts: Iterable[str]) -> set[str]:
    """The node ids reachable from ``starts`` (process ids, as ``proc:<id>`` nodes) along ``nxt``."""
    seen = {"proc:" + x for x in starts}
    todo = deque(seen)
    while todo:
        for d in nxt.get(todo.popleft(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def corroborated(nxt: Mapping[str, Sequence[str]], acts: set[str], detections: set[str]) -> bool:
    """True when a process in ``detections`` is one in ``acts``, reaches one (an ancestor, a cause)
    or is reached from one (a descendant, an effect) along the directed links ``nxt`` (node id →
    node ids: ``proc:<exec_id>``, ``file:…``)."""
    if acts & detections:
        return True
    if {x[5:] for x in _reach(nxt, acts) if x.startswith("proc:")} & detections:
        return True
    return bool({x[5:] for x in _reach(nxt, detections) if x.startswith("proc:")} & acts)


__all__ = ["corroborated"]
