"""What every benchmark shares: the machine it ran on, the JSON it writes, and its plots.

Benchmarks print their figures and write JSON under bench/results/ (or --out); `--publish` also
writes the JSON and the plots into docs/benchmarks/, where the committed results live.
"""

from __future__ import annotations

import collections
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
RESULTS = ROOT / "bench" / "results"
PUBLISHED = ROOT / "docs" / "benchmarks"

# What an operator would write by hand: restart the unit, wait until it answers ready (restart.py, fleet.py).
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

# mitogen, opt-in (--mitogen): installed apart from the project (pip --target), never in its requirements.
MITOGEN_REQUIREMENT = "mitogen>=0.3,<0.4"
# under the checkout that holds the .venv (a bench/snapshot.sh tree links it), installed once for all
MITOGEN_LIB = (ROOT / ".venv").resolve().parent / ".cache" / "mitogen" / "lib"
# Actions that never run a module: the controller does them alone (ansible-core's own action plugins).
CONTROLLER_ACTIONS = {f"ansible.builtin.{name}" for name in (
    "set_fact", "assert", "debug", "fail", "include_tasks", "import_tasks", "include_role", "import_role",
    "include_vars", "validate_argument_spec", "meta", "set_stats", "add_host", "group_by", "pause")}  # fmt: skip


def machine() -> dict:
    """Enough to compare runs: CPU model and count, memory, kernel, Python, ansible-core."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal")))  # fmt: skip
    core = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible"), "--version"], capture_output=True, text=True,
                          check=False).stdout.split("\n", 1)[0]  # fmt: skip
    return {
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kb / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ansible": core,
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def write(name: str, result: dict, publish: bool) -> Path:
    """bench/results/<name>.json, and docs/benchmarks/<name>.json when publishing."""
    result = {**result, "machine": machine()}
    text = json.dumps(result, indent=2) + "\n"
    folder = PUBLISHED if publish else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(text)
    print(f"written to {folder / f'{name}.json'}")
    return folder


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (ansible-rulebook runs a JVM in-process)."""
    total = 0
    for child in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += [int(c) for c in children]
        queue += [int(c) for c in children]
    return found


def bar_plot(path: Path, title: str, labels: list[str], values: list[float], unit: str) -> None:
    import matplotlib  # noqa: PLC0415  (only the publishing benchmarks need it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(7, 3.5))
    bars = axis.barh(labels, values, color="#4c72b0")
    axis.bar_label(bars, labels=[f"{v:.2f} {unit}" for v in values], padding=3)
    axis.set_xlabel(unit)
    axis.set_title(title)
    axis.invert_yaxis()
    axis.set_xlim(0, max(values) * 1.25)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def start_rulebook(work: Path, rulebook: list, inventory: Path, env: dict):
    """ansible-rulebook on ``rulebook`` (written as JSON), once its webhook port listens; None without it.

    The port is the first source's; the log is work/rulebook.log.
    """
    binary = shutil.which("ansible-rulebook", path=str(ROOT / ".venv" / "bin"))
    if not binary or not shutil.which("java"):
        print("ansible-rulebook or Java 17 missing (scripts/setup): no rulebook figures", flush=True)
        return None
    port = next(iter(rulebook[0]["sources"][0].values()))["port"]
    (work / "rulebook.yml").write_text(json.dumps(rulebook))
    with open(work / "rulebook.log", "w") as log:
        proc = subprocess.Popen([binary, "--rulebook", str(work / "rulebook.yml"), "-i", str(inventory)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"ansible-rulebook exited {proc.returncode}: {(work / 'rulebook.log').read_text()[-2000:]}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("ansible-rulebook did not listen within 90 s")


def stop(proc) -> None:
    if proc and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def by_hand_playbook(folder: Path) -> Path:
    """The by-hand playbook written into ``folder``, for ansible-playbook."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "by_hand.yml").write_text(BY_HAND)
    return folder / "by_hand.yml"


def mitogen() -> dict:
    """mitogen's strategy for ansible-playbook, installed under .cache/mitogen/lib on first use.

    Returns the environment to add (its strategy plugins and ``mitogen_linear``), the extra vars that make
    the podman hosts use mitogen's own podman connection (``podman`` -> ``mitogen_podman`` under its
    strategy: with ``containers.podman.podman`` mitogen falls back to Ansible's connection), and its version.
    """
    if not (MITOGEN_LIB / "ansible_mitogen").is_dir():
        print(f"installing {MITOGEN_REQUIREMENT} into {MITOGEN_LIB} ...", flush=True)
        subprocess.run([str(ROOT / ".venv" / "bin" / "pip"), "install", "--quiet", "--target", str(MITOGEN_LIB),
                        MITOGEN_REQUIREMENT], check=True)  # fmt: skip
    version = next(importlib.metadata.distributions(name="mitogen", path=[str(MITOGEN_LIB)])).version
    return {
        "env": {
            "ANSIBLE_STRATEGY_PLUGINS": str(MITOGEN_LIB / "ansible_mitogen" / "plugins" / "strategy"),
            "ANSIBLE_STRATEGY": "mitogen_linear",
        },
        "extra_vars": {"ansible_connection": "podman"},
        "version": version,
    }


def delegated_actions() -> set[str]:
    """Actions that every task of the roles and playbooks using them delegates to localhost."""
    seen: dict[str, set[bool]] = collections.defaultdict(set)

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.count(".") == 2 and not key.startswith("ansible.builtin."):
                    seen[key].add(node.get("delegate_to") == "localhost")
                walk(value)

    import yaml  # noqa: PLC0415

    for path in [*ROOT.glob("roles/*/tasks/**/*.yml"), *ROOT.glob("playbooks/**/*.yml")]:
        try:
            walk(yaml.safe_load(path.read_text()))
        except yaml.YAMLError:
            continue
    return {action for action, delegated in seen.items() if delegated == {True}}


def controller_action_plugins() -> set[str]:
    """The collection's action plugins that run no module (no ``_execute_module``): done on the controller."""
    return {f"incident.remediation.{path.stem}" for path in (ROOT / "plugins" / "action").glob("*.py")
            if "_execute_module" not in path.read_text() and path.stem != "__init__"}  # fmt: skip


def timeline_tasks(timeline: Path) -> dict:
    """The task events of one incident timeline: how many ran (not skipped), by action, and how many reached
    the host (by action: a module not run by the controller alone and not delegated to localhost)."""
    events = [json.loads(line) for line in timeline.read_text().splitlines() if line.strip()]
    tasks = [e for e in events if e.get("event") == "task"]
    ran = [e for e in tasks if e.get("status") != "skipped"]
    on_controller = CONTROLLER_ACTIONS | controller_action_plugins() | delegated_actions()
    reached = [e for e in ran if e["action"] not in on_controller]
    return {
        "task_events": len(tasks),
        "skipped": len(tasks) - len(ran),
        "run": len(ran),
        "run_by_action": dict(collections.Counter(e["action"] for e in ran).most_common()),
        "reached_host": len(reached),
        "reached_host_by_action": dict(collections.Counter(e["action"] for e in reached).most_common()),
        "seconds_in_tasks_on_host": round(sum(e.get("elapsed") or 0 for e in reached), 2),
        "seconds_in_other_tasks": round(sum(e.get("elapsed") or 0 for e in ran if e not in reached), 2),
    }


def podman_counter(folder: Path) -> tuple[Path, Path]:
    """A podman executable that logs each call's subcommand, then runs podman: (the shim, its log)."""
    folder.mkdir(parents=True, exist_ok=True)
    log, shim = folder / "podman-calls.log", folder / "podman"
    real = shutil.which("podman")
    shim.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    log.write_text("")
    return shim, log


def podman_calls(log: Path) -> dict:
    calls = collections.Counter(log.read_text().split())
    return {"total": sum(calls.values()), "by_subcommand": dict(calls.most_common())}
