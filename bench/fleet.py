#!/usr/bin/env python3
"""Fleet scaling: the same incident (demo-app crashed) on N podman hosts at once, remediated by one run.

    .venv/bin/python bench/fleet.py [--sizes 1,5,10,20] [--rounds 2] [--mitogen] [--publish]

For each N: crash demo-app on N hosts, run `ansible-playbook incident.remediation.restart` with
forks = N and one batch of N (serial N), time until every host is ready again (as seen from this
machine); then the same for the by-hand playbook (the 2-task playbook of bench/restart.py, forks = N)
and, with --mitogen, for ours under mitogen's strategy and podman connection (ours_mitogen). Then
ours at N = max with the playbook's default batches ([1, "25%"]: a canary, then quarters). Prints
wall times and ratios to one host and to by hand; writes fleet.json and, with --publish, fleet.png
into docs/benchmarks/. A benchmark, not a test: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import ROOT, by_hand_playbook, median, mitogen, write
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


def timed(ctx: dict, hosts: list[PodmanHost], *arguments: str, **env: str) -> float:
    """Crash, then one ansible-playbook run on these hosts with forks = N; seconds until all are ready."""
    crash_all(hosts)
    start = time.monotonic()
    done = playbook(ctx["inventory"], *arguments, "--limit", ",".join(h.name for h in hosts),
                    "--forks", str(len(hosts)), timeout=1200, **env)  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-2000:])
    while not all(healthy(h) for h in hosts):
        if time.monotonic() - start > 300:
            raise RuntimeError("not every host became ready")
        time.sleep(0.05)
    return time.monotonic() - start


def remediate(ctx: dict, hosts: list[PodmanHost], batch, with_mitogen: dict | None = None) -> float:
    """ours: incident.remediation.restart in batches of ``batch``, under mitogen if given."""
    incidents = str(ctx["work"] / ("incidents-mitogen" if with_mitogen else "incidents"))
    extra = {"batch": batch, "incident_evidence_dir": incidents, **(with_mitogen or {}).get("extra_vars", {})}
    return timed(ctx, hosts, "incident.remediation.restart", "-e", "service=demo-app", "-e", "restart_budget_max=1000",
                 "-e", json.dumps(extra), INCIDENT_TIMELINE_DIR=incidents,
                 **(with_mitogen or {}).get("env", {}))  # fmt: skip


def by_hand(ctx: dict, hosts: list[PodmanHost]) -> float:
    return timed(ctx, hosts, str(ctx["by_hand"]))


def plot(folder, sizes: list[int], seconds: dict, serial: float | None, others: dict) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(7, 4))
    values = [seconds[str(n)] for n in sizes]
    axis.plot(sizes, values, marker="o", label="ours, one batch, forks = N")
    for label, medians in others.items():
        axis.plot(sizes, [medians[str(n)] for n in sizes], marker=".", label=label)
    axis.plot(sizes, [values[0] * 2.5] * len(sizes), linestyle="--", color="grey", label="goal: 2.5x one host")
    if serial is not None:
        axis.scatter([sizes[-1]], [serial], color="#c44e52", zorder=3, label='default batches [1, "25%"]')
    for n, value in zip(sizes, values, strict=True):
        axis.annotate(f"{value:.1f} s", (n, value), textcoords="offset points", xytext=(0, 8), ha="center")
    axis.set_xlabel("hosts (N)")
    axis.set_ylabel("crash to all ready (s)")
    axis.set_title("Fleet scaling: one restart incident on N hosts")
    top = max([*values, serial or 0, values[0] * 2.5, *(v for m in others.values() for v in m.values())])
    axis.set_ylim(0, top * 1.2)
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(folder / "fleet.png", dpi=110)
    plt.close(figure)


def start_mitogen(ctx: dict) -> dict:
    """mitogen for ours_mitogen (ctx["mitogen"]); what the JSON says of it."""
    try:
        ctx["mitogen"] = mitogen()
    except subprocess.CalledProcessError as exc:
        return {"error": f"installing mitogen failed: {exc}"}
    return {key: ctx["mitogen"][key] for key in ("version", "env", "extra_vars")}


def time_mitogen(ctx: dict, hosts: list[PodmanHost], seconds: dict) -> None:
    """One ours_mitogen run at N = len(hosts); a failure is recorded and mitogen left out of the rest."""
    n = str(len(hosts))
    try:
        seconds.setdefault(n, []).append(remediate(ctx, hosts, len(hosts), ctx["mitogen"]))
    except RuntimeError as exc:
        ctx["mitogen_said"]["error"] = f"N={n}: {exc}"
        print(f"ours_mitogen failed at N={n}: {str(exc)[-1500:]}", flush=True)
        del ctx["mitogen"]
        return
    print(f"         N={n:<3} ours_mitogen {seconds[n][-1]:6.1f} s", flush=True)


def time_sizes(ctx: dict, hosts: list[PodmanHost], sizes: list[int], rounds: int, runs: dict) -> None:
    """Each round, each N: ours, by hand and (with mitogen) ours_mitogen, into runs[method][N]."""
    for round_ in range(1, rounds + 1):
        for n in sizes:
            runs["ours"].setdefault(str(n), []).append(remediate(ctx, hosts[:n], n))
            runs["by_hand"].setdefault(str(n), []).append(by_hand(ctx, hosts[:n]))
            print(f"round {round_}: N={n:<3} ours {runs['ours'][str(n)][-1]:6.1f} s, "
                  f"by hand {runs['by_hand'][str(n)][-1]:6.1f} s", flush=True)  # fmt: skip
            if ctx.get("mitogen"):
                time_mitogen(ctx, hosts[:n], runs["ours_mitogen"])
        # the rounds so far, in bench/results/fleet-partial.json: a run stopped in its last round keeps them
        write("fleet-partial", figures(sizes, round_, runs, ctx.get("mitogen_said")), publish=False)


def figures(sizes: list[int], rounds: int, runs: dict, said: dict | None) -> dict:
    """Medians and ratios: ours to one host, ours to by hand at each N, mitogen's to by hand and to ours."""
    seconds, hand, mitogen_seconds = runs["ours"], runs["by_hand"], runs["ours_mitogen"]
    medians = {n: median(values) for n, values in seconds.items()}
    hand_medians = {n: median(values) for n, values in hand.items()}
    one, largest = str(sizes[0]), str(sizes[-1])
    result = {
        "benchmark": "fleet scaling: restart incident on N hosts, crash -> all ready, forks = N, one batch",
        "rounds": rounds,
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_to_one_host": {n: m / medians[one] for n, m in medians.items()},
        "by_hand_seconds": hand,
        "by_hand_median_seconds": hand_medians,
        "ratio_to_by_hand_at_n": {n: medians[n] / hand_medians[n] for n in medians},
        "ours_largest_to_ours_at_1": medians[largest] / medians[one] if one == "1" else None,
        "largest_n": sizes[-1],
        "goal": "N=20: ours <= 1.2x by hand at 20, and <= 2.5x ours at N=1",
        "mitogen": said,
    }
    complete = [n for n in medians if len(mitogen_seconds.get(n, [])) == rounds]
    if said is not None:
        mitogen_medians = {n: median(mitogen_seconds[n]) for n in complete}
        result["ours_mitogen_seconds"] = mitogen_seconds
        result["ours_mitogen_median_seconds"] = mitogen_medians
        result["ours_mitogen_ratio_to_by_hand_at_n"] = {n: m / hand_medians[n] for n, m in mitogen_medians.items()}
        result["ours_mitogen_ratio_to_ours_at_n"] = {n: m / medians[n] for n, m in mitogen_medians.items()}
        if one in mitogen_medians and largest in mitogen_medians:
            result["ours_mitogen_largest_to_ours_mitogen_at_1"] = mitogen_medians[largest] / mitogen_medians[one]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-serial", action="store_true", help="skip the run with the default batches")
    parser.add_argument("--mitogen", action="store_true", help="also time ours under mitogen (ours_mitogen)")
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
    runs: dict[str, dict[str, list[float]]] = {"ours": {}, "by_hand": {}, "ours_mitogen": {}}
    serial = mitogen_said = None
    try:
        print(f"starting {len(hosts)} hosts and deploying demo-app ...", flush=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda h: h.start(timeout=120), hosts))
        inventory = write_inventory(work / "inventory", [h.name for h in hosts], {})
        deploy(inventory, "all")
        ctx = {"work": work, "inventory": inventory, "by_hand": by_hand_playbook(work)}
        if args.mitogen:
            mitogen_said = ctx["mitogen_said"] = start_mitogen(ctx)
        time_sizes(ctx, hosts, sizes, args.rounds, runs)
        if not args.no_serial:
            serial = remediate(ctx, hosts, [1, "25%"])
            print(f"N={len(hosts)} with batches [1, 25%]: {serial:.1f} s", flush=True)
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda h: h.stop(), hosts))
    result = figures(sizes, args.rounds, runs, mitogen_said)
    result["default_batches_seconds"] = serial
    print(f"\n{'N':>3} {'ours s':>8} {'x one host':>11} {'by hand s':>10} {'x by hand':>10}")
    for n, value in result["median_seconds"].items():
        print(f"{n:>3} {value:8.1f} {result['ratio_to_one_host'][n]:11.2f} {result['by_hand_median_seconds'][n]:10.1f} "
              f"{result['ratio_to_by_hand_at_n'][n]:10.2f}")  # fmt: skip
    if mitogen_said:
        print(f"mitogen: {mitogen_said}")
    folder = write("fleet", result, args.publish)
    others = {"by hand (2 tasks), forks = N": result["by_hand_median_seconds"]}
    if result.get("ours_mitogen_median_seconds"):
        others["ours under mitogen"] = result["ours_mitogen_median_seconds"]
    plot(folder, sizes, result["median_seconds"], serial, others)
    print(f"plot: {folder / 'fleet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
