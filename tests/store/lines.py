"""Tiny valid lines of each source, in the real shapes (hand-written for the tests)."""

from __future__ import annotations

import base64
import json


def exec_id(node: str, ktime: int, pid: int) -> str:
    return base64.b64encode(f"{node}:{ktime}:{pid}".encode()).decode()


def tetragon_exec(pid: int = 100, args: str = "-s http://x", node: str = "n1",
                  time: str = "2026-11-20T10:00:00.123456789Z", binary: str = "/usr/bin/curl",
                  pod: str = "web-7d9f8b6c5d-abcde", parent_pid: int = 50) -> str:
    proc = {"exec_id": exec_id(node, pid * 1000, pid), "pid": pid, "uid": 0, "cwd": "/",
            "binary": binary, "arguments": args, "flags": "execve clone",
            "start_time": time, "auid": 4294967295,
            "pod": {"namespace": "default", "name": pod,
                    "container": {"id": "containerd://" + "ab" * 32, "name": "c",
                                  "image": {"id": "img@sha256:1", "name": "img"},
                                  "start_time": time, "pid": 7},
                    "pod_labels": {"app": "web", "evil": args}, "workload": "web"},
            "docker": "ab" * 15, "parent_exec_id": exec_id(node, parent_pid * 1000, parent_pid),
            "cap": {"permitted": ["CAP_NET_RAW"], "effective": ["CAP_NET_RAW"]},
            "tid": pid, "in_init_tree": False}
    parent = {"exec_id": exec_id(node, parent_pid * 1000, parent_pid), "pid": parent_pid,
              "binary": "/bin/sh", "arguments": "", "start_time": time, "flags": "execve"}
    return json.dumps({"process_exec": {"process": proc, "parent": parent},
                       "node_name": node, "time": time})


def hubble_flow(sport: int = 40000, node: str = "n1", verdict: str = "FORWARDED",
                path: str = "/v1/x", time: str = "2026-11-20T10:00:01.000000001Z") -> str:
    flow = {"time": time, "verdict": verdict,
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": 80}},
            "source": {"identity": 1, "namespace": "default", "labels": ["k8s:app=web"],
                       "pod_name": "web-7d9f8b6c5d-abcde"},
            "destination": {"identity": 2, "namespace": "default", "labels": ["k8s:app=api"],
                            "pod_name": "api-0"},
            "Type": "L7", "node_name": node,
            "l7": {"type": "REQUEST", "http": {"method": "PUT", "url": "http://api" + path}},
            "traffic_direction": "EGRESS", "is_reply": False}
    return json.dumps({"flow": flow, "node_name": node, "time": time})


def falco_alert(cmd: str = "sh", time: str = "2026-11-20T10:00:02.5Z", **fields: object) -> str:
    return json.dumps({"hostname": "n1", "output": f"shell {cmd}", "priority": "Notice",
                       "rule": "Terminal shell in container", "source": "syscall", "tags": ["shell"],
                       "time": time, "output_fields": {"container.id": "ababababab12",
                                                       "proc.cmdline": cmd, "proc.pid": 100,
                                                       "k8s.ns.name": "<NA>", "k8s.pod.name": None,
                                                       **fields}})


def sample_lines() -> list[str]:
    return [tetragon_exec(), hubble_flow(), falco_alert(), tetragon_exec(pid=101, args="ls"),
            hubble_flow(sport=40001, node="n2")]
