#!/usr/bin/env python3
"""Restart remediation against what an operator would write by hand, on the same podman host, in one run.

    .venv/bin/python bench/restart.py [--rounds 5] [--publish]

Each round crashes demo-app (SIGKILL, systemd told not to restart it) and times, until /health says
ready as seen from this machine:
  floor       podman exec: systemctl restart, then the first healthy answer
  by_hand     a 2-task playbook: ansible.builtin.systemd_service restarted + ansible.builtin.uri until ready
  ours        ansible-playbook incident.remediation.restart (all phases: decide, diagnose, evidence,
              budget, restart, health, verify, close, timeline)
  ours_mitogen  (with --mitogen) the same playbook under mitogen's strategy (mitogen_linear) and its podman
              connection; mitogen is installed under .cache/mitogen/lib on first use, not in the project
  receiver    remediate serve: alert POST -> healthy (the same playbook through ansible-runner)
  rulebook    ansible-rulebook 1.3.2, eda.builtin.webhook source, a rule that runs the same playbook:
              POST -> healthy (Event-Driven Ansible as a team would set it up; Java 17)
Prints medians and ratios, the time per incident phase of `ours`, the tasks of one incident (from its
timeline: how many ran, by action, how many reached the host; and, from one more untimed run of `ours`
through a podman that logs its calls, how many podman calls the host cost), and writes restart.json;
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
from benchlib import (
    ROOT,
    bar_plot,
    by_hand_playbook,
    median,
    mitogen,
    podman_calls,
    podman_counter,
    start_rulebook,
    stop,
    timeline_tasks,
    write,
)
from hosts import PodmanHost, ansible_env, deploy, image_exists, playbook, write_inventory
from monitoring import Receiver, free_port

HOST = "remediation-bench-restart"


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


def run_ours(ctx: dict, folder: str, extra_vars: dict | None = None, **env: str) -> None:
    """ansible-playbook incident.remediation.restart on the host, its incidents under work/<folder>."""
    incidents = str(ctx["work"] / folder)
    done = playbook(ctx["inventory"], "incident.remediation.restart", "--limit", HOST, "-e", "service=demo-app",
                    "-e", "restart_budget_max=1000", "-e", json.dumps({"incident_evidence_dir": incidents,
                                                                       **(extra_vars or {})}),
                    INCIDENT_TIMELINE_DIR=incidents, **env)  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])


def ours(host: PodmanHost, ctx: dict) -> float:
    start = time.monotonic()
    run_ours(ctx, "incidents")
    return wait_healthy(host, start)


def ours_mitogen(host: PodmanHost, ctx: dict) -> float:
    start = time.monotonic()
    run_ours(ctx, "incidents-mitogen", ctx["mitogen"]["extra_vars"], **ctx["mitogen"]["env"])
    return wait_healthy(host, start)


def count_podman_calls(host: PodmanHost, ctx: dict) -> dict:
    """One more, untimed, run of ours through a podman that logs each call: what the host cost."""
    shim, log = podman_counter(ctx["work"] / "podman-counter")
    crash(host)
    run_ours(ctx, "incidents-counted", {"ansible_podman_executable": str(shim)})
    wait_healthy(host, time.monotonic())
    return podman_calls(log)


def newest_timeline(folder):
    return max(folder.glob("*/timeline.jsonl"), key=lambda p: p.stat().st_mtime)


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
    newest = newest_timeline(folder)
    marks = []
    for line in newest.read_text().splitlines():
        event = json.loads(line)
        if event["event"] in ("phase", "run_end"):
            marks.append((event.get("phase") if event["event"] == "phase" else "end", event["time"]))
    times = [(name, datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()) for name, at in marks]
    return {name: round(times[i + 1][1] - at, 2) for i, (name, at) in enumerate(times[:-1])}


def add_mitogen(ctx: dict, methods: dict) -> dict:
    """ours_mitogen among the methods; what the JSON says of mitogen (its version, how it is turned on)."""
    try:
        ctx["mitogen"] = mitogen()
    except subprocess.CalledProcessError as exc:
        return {"error": f"installing mitogen failed: {exc}"}
    methods["ours_mitogen"] = ours_mitogen
    return {key: ctx["mitogen"][key] for key in ("version", "env", "extra_vars")}


def time_rounds(host: PodmanHost, ctx: dict, methods: dict, rounds: int, mitogen_said: dict | None) -> dict:
    """Seconds of each method in each round; a failing ours_mitogen is recorded and left out of the rest."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for round_ in range(1, rounds + 1):
        for name, method in list(methods.items()):
            crash(host)
            try:
                times[name].append(method(host, ctx))
            except RuntimeError as exc:
                if name != "ours_mitogen":
                    raise
                mitogen_said["error"] = str(exc)
                print(f"round {round_}: ours_mitogen failed: {str(exc)[-1500:]}", flush=True)
                del methods[name], times[name]
                continue
            print(f"round {round_}: {name:<12} {times[name][-1]:6.2f} s", flush=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-rulebook", action="store_true", help="skip ansible-rulebook (slow to start)")
    parser.add_argument("--mitogen", action="store_true", help="also time ours under mitogen (ours_mitogen)")
    parser.add_argument("--publish", action="store_true", help="write the JSON and plots into docs/benchmarks/")
    args = parser.parse_args()
    if not image_exists():
        print("no target image: run scripts/build-target-image", file=sys.stderr)
        return 2
    work = ROOT / ".cache" / "bench-restart"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    by_hand_playbook(work)
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
        mitogen_said = add_mitogen(ctx, methods) if args.mitogen else None
        if not args.no_rulebook and (eda := start_eda(ctx)):
            methods["rulebook"] = rulebook
        times = time_rounds(host, ctx, methods, args.rounds, mitogen_said)
        per_phase = phases(work / "incidents")
        tasks = timeline_tasks(newest_timeline(work / "incidents"))
        if "ours_mitogen" in times:
            mitogen_said["tasks"] = timeline_tasks(newest_timeline(work / "incidents-mitogen"))
        tasks["podman_calls"] = count_podman_calls(host, ctx)
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
        "tasks_per_incident": tasks["run"],
        "ours_tasks": tasks,
        "mitogen": mitogen_said,
        "goals": {"ours <= by_hand": medians["ours"] <= medians["by_hand"],
                  "receiver <= 0.6x rulebook": bool(result_ratio := medians.get("rulebook"))
                  and medians["receiver"] <= 0.6 * result_ratio},
    }  # fmt: skip
    print(f"\n{'method':<12} {'median s':>9} {'x floor':>8} {'x by hand':>10}")
    for name, value in medians.items():
        print(f"{name:<12} {value:9.2f} {result['ratio_to_floor'][name]:8.1f} "
              f"{result['ratio_to_by_hand'][name]:10.2f}")  # fmt: skip
    print(f"phases of ours (s): {per_phase}")
    print(f"tasks per incident (ours): {tasks['run']} run ({tasks['skipped']} skipped), {tasks['reached_host']} "
          f"reached the host {tasks['reached_host_by_action']}; podman calls: {tasks['podman_calls']}")  # fmt: skip
    print(f"goals: {result['goals']}")
    folder = write("restart", result, args.publish)
    bar_plot(folder / "restart.png", "Crash to healthy, median of rounds", list(medians), list(medians.values()), "s")
    bar_plot(folder / "phases.png", "One restart incident, time per phase (ours)", list(per_phase),
             list(per_phase.values()), "s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
