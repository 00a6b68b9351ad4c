"""Generated events have the key paths and value types of real exporter output.

Every difference between the generated signature and the one of the public
samples must be explained by the allow-lists below; a type mismatch on a path
both sides have always fails.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests.synth.synth_helpers import SHIPPED, iter_events, public_data_dir, read_lines
from tests.synth.synth_schema import public_events, signature

# Fields emitted by newer Tetragon releases (>= v1.0) or by options the 2022
# samples did not enable (process namespaces, capabilities, exec-probe hints,
# TracingPolicy names, return values, exit time) and argument kinds the
# samples' policies did not use. Patterns are matched against the path
# without the event kind prefix.
GENERATED_ONLY = {
    "tetragon:*": [
        "*.ns.*", "*.tid", "*.in_init_tree", "*.pod.workload", "*.pod.workload_kind",
        "*.pod.container.maybe_exec_probe", "*.cap.permitted[]", "*.cap.effective[]",
        "*.pod.pod_labels.*",
    ],
    "tetragon:process_exit": ["process_exit.signal", "process_exit.status", "process_exit.time"],
    "tetragon:process_kprobe": [
        "process_kprobe.policy_name", "process_kprobe.return.*",
        "process_kprobe.args[].sock_arg.*", "process_kprobe.args[].capability_arg.*",
        "process_kprobe.args[].process_credentials_arg.*", "process_kprobe.args[].int_arg",
        "process_kprobe.args[].file_arg.permission",
    ],
    # the public Hubble samples contain no DROPPED verdicts
    "hubble:*": ["flow.drop_reason", "flow.drop_reason_desc"],
    # Falco: the field behind %fd.name in the K8s-API rule
    "falco": ["output_fields.fd.name"],
}

# Fields present only in the public samples: Ethernet/interface metadata and
# ICMP (we model neither), DNS over TCP and PSH segments, NXDOMAIN codes, the
# old Tetragon book's kprobe argument kinds and inheritable caps, and the many
# optional Falco output fields of rules/options our capture does not use.
PUBLIC_ONLY = {
    "tetragon:*": ["*.cap.inheritable[]", "*.pod.pod_labels.*"],
    "tetragon:process_kprobe": [
        "process_kprobe.args[].bytes_arg", "process_kprobe.args[].size_arg",
        "process_kprobe.args[].truncated_bytes_arg.*",
    ],
    "hubble:*": [
        "flow.ethernet.*", "flow.interface.*", "flow.l4.ICMPv4*", "flow.l4.TCP.flags.PSH",
        "flow.reply", "flow.l4.TCP.*", "flow.l7.dns.rcode",
    ],
    "falco": ["output_fields.*", "uuid"],
}


def allowed(kind: str, path: str, table: dict[str, list[str]]) -> bool:
    for key, patterns in table.items():
        if fnmatch.fnmatch(kind, key) and any(fnmatch.fnmatch(path, p) for p in patterns):
            return True
    return False


@pytest.fixture(scope="module")
def signatures():
    public = public_data_dir()
    if not public.is_dir():
        pytest.skip(f"public samples not found at {public}")
    gen = signature(ev for src in ("tetragon", "hubble", "falco")
                    for _, ev in iter_events(SHIPPED, src))
    pub = signature(public_events(public))
    return gen, pub


KINDS = ["tetragon:process_exec", "tetragon:process_exit", "tetragon:process_kprobe",
         "hubble:L3_L4", "hubble:L7:http", "hubble:L7:dns", "falco"]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_matches_public_samples(signatures, kind):
    gen, pub = signatures
    assert kind in gen, f"no generated {kind} events"
    assert kind in pub, f"no public {kind} events"
    g, p = gen[kind], pub[kind]
    only_gen = sorted(k for k in set(g) - set(p) if not allowed(kind, k, GENERATED_ONLY))
    only_pub = sorted(k for k in set(p) - set(g) if not allowed(kind, k, PUBLIC_ONLY))
    assert not only_gen, f"{kind}: generated-only paths not allow-listed: {only_gen}"
    assert not only_pub, f"{kind}: public-only paths not allow-listed: {only_pub}"
    mismatches = {
        k: (sorted(g[k]), sorted(p[k]))
        for k in set(g) & set(p)
        if (g[k] - {"null"}) and (p[k] - {"null"}) and (g[k] - {"null"}) != (p[k] - {"null"})
    }
    assert not mismatches, f"{kind}: type mismatches {mismatches}"


def test_every_line_parses_except_the_truncated_one():
    truth = json.loads((SHIPPED / "TRUTH.json").read_text())
    bad = []
    for path in sorted(p for p in SHIPPED.glob("*/*") if p.is_file()):  # the agents' JSON exports
        for i, line in enumerate(read_lines(path), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad.append((str(path.relative_to(SHIPPED)), i))
    assert bad == [(truth["truncated_line"]["file"], truth["truncated_line"]["line"])]
    # the truncated line is the last one of its file and has no newline
    path = SHIPPED / truth["truncated_line"]["file"]
    assert len(read_lines(path)) == truth["truncated_line"]["line"]
    assert path.name.startswith("tetragon.log.") and path.name.endswith(".gz")
