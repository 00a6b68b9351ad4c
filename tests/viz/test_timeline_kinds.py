"""API calls and HTTP requests are classes of their own in the timeline, with tooltips that say
what each did (verb, resource and user; method, path and code), as inert text."""

from __future__ import annotations

import json

import kernelsec_nb as kn
from kernelsec_nb.viz import _common

_AUDIT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a-1",
          "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/shop/pods/web-0/exec?command=sh",
          "verb": "create", "user": {"username": "alice\u202e\u001b[31m", "groups": ["system:authenticated"]},
          "sourceIPs": ["10.0.0.7"], "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop",
                                                  "name": "web-0"},
          "responseStatus": {"code": 101}, "requestReceivedTimestamp": "2024-05-14T08:23:57.000000Z",
          "stageTimestamp": "2024-05-14T08:23:58.000000Z"}
_ISTIO = ('[2024-05-14T08:23:58.830Z] "PUT /v1/exhaust-port?x=<b>1</b> HTTP/1.1" 503 - via_upstream - "-" 0 5 3 2 '
          '"-" "curl/8" "rid" "deathstar" "10.0.0.5:80" inbound|80|| 127.0.0.6:5000 10.0.0.5:80 10.0.0.9:4000 - default')


def _points(spec: dict) -> list[dict]:
    out: list[dict] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("values"), list):
                out.extend(r for r in x["values"] if isinstance(r, dict) and "class" in r)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(spec)
    return out


def test_api_calls_and_http_requests_have_their_own_class(tmp_path):
    (tmp_path / "audit.log").write_text(json.dumps(_AUDIT) + "\n")
    (tmp_path / "istio.log").write_text(_ISTIO + "\n")
    case = kn.open_case()
    assert case.load(tmp_path, progress=False).to_dict()["loaded"] == 2
    spec = kn.viz.timeline(case, lanes="source").to_dict()
    rows = {r["source"]: r for r in _points(spec)}
    api, http = rows["k8s_audit"], rows["istio"]
    assert (api["class"], http["class"]) == ("api call", "http request")
    # verb, resource and user (through kn.shown: the bidi override and the escape made visible), the code
    assert api["api"] == kn.shown("create pods/exec shop/web-0 by alice\u202e\u001b[31m (101)")
    assert "\u202e" not in api["api"] and "\u001b" not in api["api"] and api["http"] is None
    assert http["http"] == "PUT /v1/exhaust-port 503" and http["api"] is None
    text = json.dumps(spec)
    assert "API call (verb resource by user)" in text and "http (method path code)" in text
    # a shape of its own in the legend, so colour is never the only cue
    shapes = next(e["shape"]["scale"] for layer in spec["layer"] if "encoding" in layer
                  for e in [layer["encoding"]] if "shape" in e)
    assert shapes["domain"] == list(_common.CLASS_SHAPES)
    assert len(set(_common.CLASS_SHAPES.values()) - {"circle"}) == len(_common.CLASS_SHAPES) - 2  # other, flow
