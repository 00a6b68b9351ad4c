"""Synthetic, deterministic incident captures in real exporter formats.

``generate`` writes the bundled multi-node "Death Star" incident (Tetragon,
Hubble and Falco files plus ``TRUTH.json``); ``write_bulk`` streams one large
NDJSON file for benchmarks; :mod:`kernelsec_nb.synth.scenarios` is the labelled corpus
(attacks and benign clusters with their ``TRUTH.json``) and :mod:`kernelsec_nb.synth.scoring`
scores findings against it.
"""

from __future__ import annotations

from .bulk import write_bulk
from .generate import generate

__all__ = ["generate", "write_bulk"]
