#!/usr/bin/env python3
"""Restart remediation against what an operator would write by hand, on the same podman host, in one run.

    .venv/bin/python bench/restart.py [--rounds 5] [--publish]

Each round crashes demo-app (SIGKILL, systemd told not to restart it) and times, until /health says
ready as seen from this machine:
  floor       podman exec: systemctl restart, then the first healthy answer
  by_hand     a 2-task playbook: ansible.builtin.systemd_service restarted + ansible.builtin.uri until ready
  ours        ansible-playbook incident.remediation.restart (all phases: decide, diagnose, evidence,
              budget, restart, health, verify, close, timeline)
  receiver    remediate serve: alert POST -> healthy (the same playbook through ansible-runner)
  rulebook    ansible-rulebook 1.3.2, eda.builtin.webhook source, a rule that runs the same playbook:
              POST -> healthy (Event-Driven Ansible as a team would set it up; Java 17)
Prints medians and ratios, the time per incident phase of `ours`, and writes restart.json;
--publish writes it and the plots (restart.png, phases.png) into docs/benchmarks/.
A benchmark, not a test: these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

import yaml
from benchlib import ROOT, bar_plot, median, start_rulebook, stop, write
from hosts import PodmanHost, ansible_env, deploy, image_exists, playbook, write_inventory
from monitoring import Receiver, free_port

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


def start_eda(ctx: dict):
    """ansible-rulebook with eda.builtin.webhook: every POST runs remediate.yml (restart) on the host."""
    ctx["rulebook_port"] = free_port()
    rulebook = [{
        "name": "remediate", "hosts": "all",
        "sources": [{"eda.builtin.webhook": {"host": "127.0.0.1", "port": ctx["rulebook_port"]}}],
        "rules": [{"name": "restart", "condition": "event.payload.alert is defined",
                   "action": {"run_playbook": {"name": "incident.remediation.remediate", "extra_vars": {
                       "service": "demo-app", "mitigation": "restart", "restart_budget_max": 1000,
                       "incident_evidence_dir": str(ctx["work"] / "rulebook-incidents")}}}}],
    }]  # fmt: skip
    # ansible-rulebook copies the inventory file alone into its runner's folder: group_vars inline
    inventory = yaml.safe_load(ctx["inventory"].read_text())
    group_vars = yaml.safe_load((ctx["inventory"].parent / "group_vars" / "demo_app.yml").read_text())
    inventory["all"]["children"]["demo_app"]["vars"] = group_vars
    (ctx["work"] / "rulebook-inventory.yml").write_text(yaml.safe_dump(inventory))
    env = ansible_env(PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    return start_rulebook(ctx["work"], rulebook, ctx["work"] / "rulebook-inventory.yml", env)


def rulebook(host: PodmanHost, ctx: dict) -> float:
    data = json.dumps({"alert": "DemoAppDown", "host": HOST}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{ctx['rulebook_port']}/endpoint", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=10):
        pass
    seconds = wait_healthy(host, start)
    time.sleep(3)  # the playbook's verify and close phases end after the service is healthy
    return seconds


def phases(folder) -> dict:
    """Seconds per incident phase of the newest timeline under ``folder`` (phase start to next start)."""
    newest = max(folder.glob("*/timeline.jsonl"), key=lambda p: p.stat().st_mtime)
    marks = []
    for line in newest.read_text().splitlines():
        event = json.loads(line)
        if event["event"] in ("phase", "run_end"):
            marks.append((event.get("phase") if event["event"] == "phase" else "end", event["time"]))
    times = [(name, datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()) for name, at in marks]
    return {name: round(times[i + 1][1] - at, 2) for i, (name, at) in enumerate(times[:-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-rulebook", action="store_true", help="skip ansible-rulebook (slow to start)")
    parser.add_argument("--publish", action="store_true", help="write the JSON and plots into docs/benchmarks/")
    args = parser.parse_args()
    if not image_exists():
        print("no target image: run scripts/build-target-image", file=sys.stderr)
        return 2
    work = ROOT / ".cache" / "bench-restart"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    (work / "by_hand.yml").write_text(BY_HAND)
    host = PodmanHost(HOST, free_port())
    server = eda = None
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
        if not args.no_rulebook and (eda := start_eda(ctx)):
            methods["rulebook"] = rulebook
        times: dict[str, list[float]] = {name: [] for name in methods}
        for round_ in range(1, args.rounds + 1):
            for name, method in methods.items():
                crash(host)
                times[name].append(method(host, ctx))
                print(f"round {round_}: {name:<9} {times[name][-1]:6.2f} s", flush=True)
        per_phase = phases(work / "incidents")
    finally:
        stop(eda)
        if server:
            server.stop()
        host.stop()
    medians = {name: median(values) for name, values in times.items()}
    result = {
        "benchmark": "restart remediation, crash -> ready as seen from the machine",
        "rounds": args.rounds,
        "seconds": times,
        "median_seconds": medians,
        "ratio_to_floor": {name: medians[name] / medians["floor"] for name in medians},
        "ratio_to_by_hand": {name: medians[name] / medians["by_hand"] for name in medians},
        "receiver_to_rulebook": medians["receiver"] / medians["rulebook"] if "rulebook" in medians else None,
        "ours_phases_seconds": per_phase,
        "goals": {"ours <= by_hand": medians["ours"] <= medians["by_hand"],
                  "receiver <= 0.6x rulebook": bool(result_ratio := medians.get("rulebook"))
                  and medians["receiver"] <= 0.6 * result_ratio},
    }  # fmt: skip
    print(f"\n{'method':<10} {'median s':>9} {'x floor':>8} {'x by hand':>10}")
    for name, value in medians.items():
        print(f"{name:<10} {value:9.2f} {result['ratio_to_floor'][name]:8.1f} "
              f"{result['ratio_to_by_hand'][name]:10.2f}")  # fmt: skip
    print(f"phases of ours (s): {per_phase}")
    print(f"goals: {result['goals']}")
    folder = write("restart", result, args.publish)
    bar_plot(folder / "restart.png", "Crash to healthy, median of rounds", list(medians), list(medians.values()), "s")
    bar_plot(folder / "phases.png", "One restart incident, time per phase (ours)", list(per_phase),
             list(per_phase.values()), "s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
