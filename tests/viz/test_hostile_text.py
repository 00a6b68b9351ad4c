"""Control characters in attacker text do not abort chart rendering.

vl-convert's SVG parser panics (and aborts the whole Python process, uncatchably) on a character
XML does not allow, such as the ESC of ``kill -9 1 $'\\e[2J'``; so the charts are rendered in a
child process here, and each must come out with the character shown as a picture.
"""

import json
import subprocess
import sys
from pathlib import Path

from tests.store import lines

_RENDER = r"""
import sys
import kernelsec_nb as kn
from kernelsec_nb.widgets import Explorer
case = kn.open_case()
case.load(sys.argv[1], progress=False)
exec_id = case.sql("select exec_id from processes where pid = 100")["exec_id"][0]
out = sys.argv[2]
for name, chart in [("timeline", kn.viz.timeline(case)), ("flows", kn.viz.flow_chart(case)),
                    ("tree", kn.viz.process_tree(case, exec_id)), ("attack", kn.viz.attack_flow(case, exec_id)),
                    ("heatmap", kn.viz.activity_heatmap(case, by="pod"))]:
    kn.viz.save(chart, f"{out}/{name}.svg")
open(f"{out}/explorer.html", "w").write(Explorer(case).snapshot())
print("rendered")
"""


def test_charts_render_control_characters_as_pictures(tmp_path: Path):
    hostile = "\x1b[2J\x00\x07\ufffe\u202e"
    flow = json.loads(lines.hubble_flow())
    flow["flow"]["destination"]["pod_name"] = "api" + hostile
    flow["flow"]["destination_names"] = ["evil" + hostile + ".example"]
    capture = tmp_path / "capture.json"
    capture.write_text("\n".join([lines.tetragon_exec(args="-9 1 " + hostile, pod="web" + hostile),
                                  json.dumps(flow), lines.falco_alert(cmd="sh" + hostile)]) + "\n")
    out = subprocess.run([sys.executable, "-c", _RENDER, str(capture), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "rendered" in out.stdout, out.stderr[-2000:]
    tree = (tmp_path / "tree.svg").read_text(encoding="utf-8")
    assert "␛[2J" in tree and "\x1b" not in tree
    for name in ("timeline", "flows", "attack", "heatmap"):
        assert "\x1b" not in (tmp_path / f"{name}.svg").read_text(encoding="utf-8")
