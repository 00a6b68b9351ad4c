"""Paths as a shared report names them: relative to the loaded folder, never the analyst's own.

Private helper of :mod:`kernelsec_nb.report` and the load report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def common_base(paths: list[str]) -> str:
    """The folder above the one all ``paths`` are under (``""`` when they share none)."""
    if not paths:
        return ""
    try:
        root = os.path.commonpath([os.path.dirname(p) or "." for p in paths])
    except ValueError:  # relative and absolute mixed, or other drives
        return ""
    return os.path.dirname(root)


def relative_names(paths: list[str]) -> list[str]:
    """Each path relative to the folder all of them are under (the loaded folder), prefixed by
    that folder's own name: no absolute path of the analyst's machine reaches a report.

    >>> relative_names(["/home/me/kn/data/deathstar/n1/a.log", "/home/me/kn/data/deathstar/n2/b.log"])
    ['deathstar/n1/a.log', 'deathstar/n2/b.log']
    >>> relative_names(["/tmp/x/one.json"])
    ['x/one.json']
    """
    base = common_base(paths)
    if not base:
        return [Path(p).name for p in paths]
    return [os.path.relpath(p, base) for p in paths]


_ABSOLUTE = re.compile(r"(?<![\w.~])/[^\s():,;'\"]+")


def strip_base(text: str, base: str) -> str:
    """``text`` with the folder ``base`` (and its separator) taken out of every path in it, and
    any other absolute path cut to ``…/`` and its last part.

    >>> strip_base("a link to /home/me/x/up, outside /home/me/x (/home/me)", "/home/me")
    'a link to x/up, outside x (…/me)'
    """
    if base and base != os.sep:
        text = text.replace(base.rstrip(os.sep) + os.sep, "")
    return _ABSOLUTE.sub(lambda m: "…/" + (m.group(0).rstrip("/").rsplit("/", 1)[-1]), text)
