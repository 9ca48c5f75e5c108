#!/usr/bin/env python3
"""Restart remediation against what an operator would write by hand, on the same podman host, in one run.

    .venv/bin/python bench/restart.py [--rounds 5] [--out bench/results/restart.json]

Each round crashes demo-app (SIGKILL, systemd told not to restart it) and times, until /health says
ready as seen from this machine:
  floor       podman exec: systemctl restart, then the first healthy answer
  by_hand     a 2-task playbook: ansible.builtin.systemd_service restarted + ansible.builtin.uri until ready
  ours        ansible-playbook incident.remediation.restart (all phases: decide, diagnose, evidence,
              budget, restart, health, verify, close, timeline)
  receiver    remediate serve: alert POST -> healthy (the same playbook through ansible-runner)
Prints medians and ratios and writes them as JSON. A benchmark, not a test: these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from hosts import PodmanHost, deploy, image_exists, playbook, write_inventory  # noqa: E402
from monitoring import Receiver, free_port  # noqa: E402

HOST = "remediation-bench-restart"
BY_HAND = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.systemd_service: {name: demo-app.service, state: restarted}
    - ansible.builtin.uri: {url: "http://127.0.0.1:8080/health", return_content: true}
      register: health
      until: health.json is defined and health.json.status == 'ready'
      retries: 60
      delay: 0.2
"""


def healthy(host: PodmanHost) -> bool:
    answer = host.health()
    return bool(answer) and answer.get("status") == "ready"


def wait_healthy(host: PodmanHost, since: float, timeout: float = 120) -> float:
    while time.monotonic() - since < timeout:
        if healthy(host):
            return time.monotonic() - since
        time.sleep(0.02)
    raise RuntimeError("demo-app did not become ready")


def crash(host: PodmanHost) -> None:
    host.crash()
    deadline = time.monotonic() + 10
    while healthy(host) and time.monotonic() < deadline:
        time.sleep(0.05)


def floor(host: PodmanHost, _ctx: dict) -> float:
    start = time.monotonic()
    host.sh("systemctl restart demo-app.service")
    return wait_healthy(host, start)


def by_hand(host: PodmanHost, ctx: dict) -> float:
    start = time.monotonic()
    done = playbook(ctx["inventory"], str(ctx["work"] / "by_hand.yml"), "--limit", HOST)
    if done.returncode:
        raise RuntimeError(done.stdout[-2000:])
    return wait_healthy(host, start)


def ours(host: PodmanHost, ctx: dict) -> float:
    start = time.monotonic()
    done = playbook(ctx["inventory"], "incident.remediation.restart", "--limit", HOST, "-e", "service=demo-app",
                    "-e", "restart_budget_max=1000", "-e", f"incident_evidence_dir={ctx['work'] / 'incidents'}",
                    INCIDENT_TIMELINE_DIR=str(ctx["work"] / "incidents"))  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout[-2000:])
    return wait_healthy(host, start)


def receiver(host: PodmanHost, ctx: dict) -> float:
    ctx["round"] += 1
    alert = {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": f"{HOST}:8080",
             "severity": "critical"}, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z",
             "fingerprint": f"{ctx['round']:016x}"}  # fmt: skip
    start = time.monotonic()
    status, _ = ctx["receiver"].post({"version": "4", "alerts": [alert]})
    if status != 202:
        raise RuntimeError(f"receiver answered {status}")
    seconds = wait_healthy(host, start)
    while ctx["receiver"].get("/jobs?state=running&limit=5")["jobs"]:  # let the job finish before the next round
        time.sleep(0.2)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "restart.json"))
    args = parser.parse_args()
    if not image_exists():
        print("no target image: run scripts/build-target-image", file=sys.stderr)
        return 2
    work = ROOT / ".cache" / "bench-restart"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    (work / "by_hand.yml").write_text(BY_HAND)
    host = PodmanHost(HOST, free_port())
    server = None
    try:
        print(f"starting {HOST} and deploying demo-app ...", flush=True)
        host.start()
        inventory = write_inventory(work / "inventory", [HOST], {})
        deploy(inventory, HOST)
        route = {"name": "down", "alertname": "DemoAppDown", "playbook": "incident.remediation.remediate",
                 "mitigation": "restart", "service": "demo-app", "cooldown": 0,
                 "vars": {"restart_budget_max": 1000}}  # fmt: skip
        server = Receiver(work / "receiver", {"inventory": str(inventory), "ansible_config": str(ROOT / "ansible.cfg"),
                                              "data_dir": str(work / "receiver" / "data"), "routes": [route]},
                          "bench-token-0123456789abcdef").start()  # fmt: skip
        ctx = {"work": work, "inventory": inventory, "receiver": server, "round": 0}
        methods = {"floor": floor, "by_hand": by_hand, "ours": ours, "receiver": receiver}
        times: dict[str, list[float]] = {name: [] for name in methods}
        for round_ in range(1, args.rounds + 1):
            for name, method in methods.items():
                crash(host)
                times[name].append(method(host, ctx))
                print(f"round {round_}: {name:<9} {times[name][-1]:6.2f} s", flush=True)
    finally:
        if server:
            server.stop()
        host.stop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "restart remediation, crash -> ready as seen from the machine",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0)),
        },
        "rounds": args.rounds,
        "seconds": times,
        "median_seconds": medians,
        "ratio_to_floor": {name: medians[name] / medians["floor"] for name in medians},
        "ratio_to_by_hand": {name: medians[name] / medians["by_hand"] for name in medians},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'method':<10} {'median s':>9} {'x floor':>8} {'x by hand':>10}")
    for name, median in medians.items():
        print(f"{name:<10} {median:9.2f} {result['ratio_to_floor'][name]:8.1f} "
              f"{result['ratio_to_by_hand'][name]:10.2f}")  # fmt: skip
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
