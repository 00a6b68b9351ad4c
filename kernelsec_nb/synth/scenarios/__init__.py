"""A labelled corpus: incidents and benign clusters kept as generator code plus their truth.

Each scenario is one small module with a ``SCENARIO`` record; :data:`SCENARIOS` lists them in a
fixed order.  ``scenario.build(out_dir, seed)`` writes the capture (Tetragon, Hubble and Falco
files per node, in the exporters' formats) and ``TRUTH.json``, and returns the
:class:`~.truth.Truth`.  The same seed gives byte-identical files.  Scenario code knows its own
pods and answers; nothing outside ``kernelsec_nb.synth`` may.

Example
-------
>>> from kernelsec_nb.synth.scenarios import SCENARIOS, get
>>> get("benign-debug").kind
'benign'
>>> sorted({s.kind for s in SCENARIOS})
['attack', 'benign']

``python benchmarks/findings.py`` builds every scenario, runs the findings engine on it and
prints a score table (:mod:`kernelsec_nb.synth.scoring`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .truth import Command, Endpoint, PodRef, Truth


@dataclass(frozen=True)
class Scenario:
    """One capture of the corpus.

    Parameters
    ----------
    name : str
        Registry name (also the capture's folder name in the benchmark).
    kind : str
        ``attack`` or ``benign``.
    description : str
        What happens, in a sentence or two.
    builder : callable
        ``builder(out_dir, seed) -> Truth``.
    seed : int
        The corpus' seed for it.
    """

    name: str
    kind: str
    description: str
    builder: Callable[[Path, int], Truth]
    seed: int = 1

    def build(self, out_dir: str | Path, seed: int | None = None) -> Truth:
        """Write the capture and ``TRUTH.json`` into ``out_dir``; return the truth."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        truth = self.builder(out, self.seed if seed is None else seed)
        assert truth.kind == self.kind and truth.scenario == self.name
        truth.write(out)
        return truth


#: The corpus, in the order the benchmark prints it (modules of this package).
MODULES = ["deathstar", "web_rce", "api_abuse", "lateral_service", "persistence", "rollout_nc",
           "jupyter_miner", "hostile_strings", "dns_exfil", "benign_busy", "benign_debug", "benign_oncall"]


def _load() -> list[Scenario]:
    import importlib

    out = []
    for name in MODULES:
        try:
            out.append(importlib.import_module(f"{__name__}.{name}").SCENARIO)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    return out


SCENARIOS: list[Scenario] = _load()


def get(name: str) -> Scenario:
    """The scenario called ``name`` (a one-line ``KeyError`` naming the known ones otherwise)."""
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")


__all__ = ["SCENARIOS", "Command", "Endpoint", "PodRef", "Scenario", "Truth", "get"]
