"""The bundled capture is reproducible and seeds matter."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kernelsec_nb.synth import generate
from tests.synth.synth_helpers import SHIPPED


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_shipped_data_matches_fresh_generation(capture):
    out, _ = capture
    fresh = digests(out)
    shipped = digests(SHIPPED)
    assert "TRUTH.json" in shipped
    assert shipped == fresh


def test_same_seed_identical_different_seed_differs(tmp_path):
    a = generate(tmp_path / "a", seed=11, hours=0.2)
    b = generate(tmp_path / "b", seed=11, hours=0.2)
    c = generate(tmp_path / "c", seed=12, hours=0.2)
    assert a == b
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert digests(tmp_path / "a") != digests(tmp_path / "c")
    assert a["flag"] != c["flag"] or a["attacker"] != c["attacker"] or a["window"] != c["window"]


def test_gzip_headers_are_deterministic():
    for gz in SHIPPED.rglob("*.gz"):
        head = gz.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] & 0x08 == 0, "no file name in header"
        assert head[4:8] == b"\x00\x00\x00\x00", "mtime is zero"
