"""The timeline counts dropped flows per bucket (issue 22): 117 drops in one lane are a few
crosses sized by count, not a black smear, and the size legend says what it counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kernelsec_nb as kn
from tests.store.lines import hubble_flow

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def _layers(spec: dict) -> list[dict]:
    out = []
    for layer in spec.get("layer", []):
        out.extend(_layers(layer) if "layer" in layer else [layer])
    return out


def test_117_drops_in_one_lane_are_counted_per_bucket(tmp_path):
    lines = [hubble_flow(sport=40000 + i, verdict="DROPPED",
                         time=(T0 + timedelta(seconds=i * 0.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
             for i in range(117)]
    lines.append(hubble_flow(sport=39999, time=(T0 + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    f = tmp_path / "flows.log"
    f.write_text("\n".join(lines) + "\n")
    with kn.open_case() as case:
        case.load(f, progress=False)
        spec = kn.viz.timeline(case).to_dict()
    drops = [ly for ly in _layers(spec) if ly.get("encoding", {}).get("size", {}).get("field") == "n"]
    assert len(drops) == 1, "dropped flows: one layer of counts"
    rows = drops[0]["data"]["values"]
    assert sum(r["n"] for r in rows) == 117  # every drop counted, none lost
    assert len(rows) <= 20, len(rows)  # a few marks, not 117 on top of each other
    assert {r["class"] for r in rows} == {"dropped flow"}
    assert drops[0]["encoding"]["size"]["title"].startswith("dropped flows per ")
    # the other events are still drawn one by one
    others = [r for ly in _layers(spec) for r in ly.get("data", {}).get("values", []) if r.get("class") == "flow"]
    assert len(others) == 1
