#!/usr/bin/env python3
"""Fleet scaling: the same incident (demo-app crashed) on N podman hosts at once, remediated by one run.

    .venv/bin/python bench/fleet.py [--sizes 1,5,10,20] [--rounds 2] [--publish]

For each N: crash demo-app on N hosts, run `ansible-playbook incident.remediation.restart` with
forks = N and one batch of N (serial N), time until every host is ready again (as seen from this
machine). Then the same N = max with the playbook's default batches ([1, "25%"]: a canary, then
quarters). Prints wall times and ratios to one host; writes fleet.json and, with --publish,
fleet.png into docs/benchmarks/. A benchmark, not a test: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import ROOT, median, write
from hosts import PodmanHost, deploy, image_exists, playbook, write_inventory
from monitoring import free_port


def healthy(host: PodmanHost) -> bool:
    answer = host.health()
    return bool(answer) and answer.get("status") == "ready"


def crash_all(hosts: list[PodmanHost]) -> None:
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda h: h.crash(), hosts))
    deadline = time.monotonic() + 20
    while any(healthy(h) for h in hosts) and time.monotonic() < deadline:
        time.sleep(0.1)


def remediate(ctx: dict, hosts: list[PodmanHost], batch) -> float:
    """Crash, then one ansible-playbook run on these hosts; seconds until all are ready."""
    crash_all(hosts)
    start = time.monotonic()
    done = playbook(
        ctx["inventory"], "incident.remediation.restart", "--limit", ",".join(h.name for h in hosts),
        "--forks", str(len(hosts)), "-e", "service=demo-app", "-e", "restart_budget_max=1000",
        "-e", json.dumps({"batch": batch, "incident_evidence_dir": str(ctx["work"] / "incidents")}),
        INCIDENT_TIMELINE_DIR=str(ctx["work"] / "incidents"), timeout=1200,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout[-3000:])
    while not all(healthy(h) for h in hosts):
        if time.monotonic() - start > 300:
            raise RuntimeError("not every host became ready")
        time.sleep(0.05)
    return time.monotonic() - start


def plot(folder, sizes: list[int], seconds: dict, serial: float | None) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(7, 4))
    values = [seconds[str(n)] for n in sizes]
    axis.plot(sizes, values, marker="o", label="one batch, forks = N")
    axis.plot(sizes, [values[0] * 2.5] * len(sizes), linestyle="--", color="grey", label="goal: 2.5x one host")
    if serial is not None:
        axis.scatter([sizes[-1]], [serial], color="#c44e52", zorder=3, label='default batches [1, "25%"]')
    for n, value in zip(sizes, values, strict=True):
        axis.annotate(f"{value:.1f} s", (n, value), textcoords="offset points", xytext=(0, 8), ha="center")
    axis.set_xlabel("hosts (N)")
    axis.set_ylabel("crash to all ready (s)")
    axis.set_title("Fleet scaling: one restart incident on N hosts")
    axis.set_ylim(0, max([*values, serial or 0, values[0] * 2.5]) * 1.2)
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(folder / "fleet.png", dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-serial", action="store_true", help="skip the run with the default batches")
    parser.add_argument("--publish", action="store_true", help="write the JSON and plot into docs/benchmarks/")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    if not image_exists():
        print("no target image: run scripts/build-target-image", file=sys.stderr)
        return 2
    work = ROOT / ".cache" / "bench-fleet"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    hosts = [PodmanHost(f"remediation-bench-fleet-{i}", free_port()) for i in range(1, sizes[-1] + 1)]
    seconds: dict[str, list[float]] = {}
    serial = None
    try:
        print(f"starting {len(hosts)} hosts and deploying demo-app ...", flush=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda h: h.start(timeout=120), hosts))
        inventory = write_inventory(work / "inventory", [h.name for h in hosts], {})
        deploy(inventory, "all")
        ctx = {"work": work, "inventory": inventory}
        for round_ in range(1, args.rounds + 1):
            for n in sizes:
                seconds.setdefault(str(n), []).append(remediate(ctx, hosts[:n], n))
                print(f"round {round_}: N={n:<3} {seconds[str(n)][-1]:6.1f} s", flush=True)
        if not args.no_serial:
            serial = remediate(ctx, hosts, [1, "25%"])
            print(f"N={len(hosts)} with batches [1, 25%]: {serial:.1f} s", flush=True)
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda h: h.stop(), hosts))
    medians = {n: median(values) for n, values in seconds.items()}
    one = medians[str(sizes[0])]
    result = {
        "benchmark": "fleet scaling: restart incident on N hosts, crash -> all ready, forks = N, one batch",
        "rounds": args.rounds,
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_to_one_host": {n: m / one for n, m in medians.items()},
        "default_batches_seconds": serial,
        "goal": "N=20 within 2.5x one host",
    }
    print(f"\n{'N':>3} {'median s':>9} {'x one host':>11}")
    for n, value in medians.items():
        print(f"{n:>3} {value:9.1f} {value / one:11.2f}")
    folder = write("fleet", result, args.publish)
    plot(folder, sizes, medians, serial)
    print(f"plot: {folder / 'fleet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
