"""What every benchmark shares: the machine it ran on, the JSON it writes, and its plots.

Benchmarks print their figures and write JSON under bench/results/ (or --out); `--publish` also
writes the JSON and the plots into docs/benchmarks/, where the committed results live.
"""

from __future__ import annotations

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
