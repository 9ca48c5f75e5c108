#!/usr/bin/env python3
"""The receiver under load, on loopback: acknowledgement latency, jobs started, memory.

    .venv/bin/python bench/load.py [--rate 200] [--seconds 10] [--identical 10000] [--publish]

`remediate serve` with one route (DemoAppDown, critical, a playbook that records its run on a
local host) answers three bounded bursts, each paced at a fixed rate:
  identical   --identical copies of one firing alert (Alertmanager re-sending): exactly 1 job
  distinct    rate x seconds alerts, each with its own fingerprint and a severity the route does
              not act on: each one journaled and refused, no job (the receiver's own cost, not the
              playbooks')
  mixed       rate x seconds alerts, one in ten the identical firing alert, the rest distinct
Reports p50/p99/max latency of the 202 answers, the verdicts, the jobs started, and the resident
memory of the receiver idle and at its peak under load, next to an idle ansible-rulebook (1.3.2,
eda.builtin.webhook source, its JVM included). Goals: p99 < 50 ms, 10,000 identical -> 1 job,
idle RSS <= 0.3x ansible-rulebook's. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import aiohttp
from benchlib import ROOT, median, percentile, rss_kib, start_rulebook, stop, write
from monitoring import Receiver, free_port

TOKEN = "bench-token-0123456789abcdef"


def alert(fingerprint: str, severity: str = "critical") -> dict:
    return {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": severity},
            "annotations": {"summary": "down"}, "startsAt": "2026-11-23T20:00:00Z", "endsAt": "",
            "generatorURL": "http://prometheus/graph?g0.expr=up+%3D%3D+0", "fingerprint": fingerprint}  # fmt: skip


def body(one: dict) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "remediate", "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}",
                       "alerts": [one]}).encode()  # fmt: skip


class Sampler:
    """The peak resident memory of a process while a burst runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.stopping = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join()


async def burst(url: str, bodies: list[bytes], rate: float) -> dict:
    """POST the bodies paced at `rate` per second; latency of each answer and the verdicts."""
    latencies: list[float] = []
    verdicts: dict[str, int] = {}
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def send(data: bytes) -> None:
            sent = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=headers) as answer:
                    payload = await answer.json()
                    latencies.append(time.perf_counter() - sent)
                    if answer.status != 202:
                        errors.append(f"{answer.status}: {payload}")
                        return
                    for verdict in payload["alerts"]:
                        verdicts[verdict["verdict"]] = verdicts.get(verdict["verdict"], 0) + 1
            except (TimeoutError, aiohttp.ClientError) as error:
                errors.append(repr(error))

        start = time.perf_counter()
        tasks = []
        for i, data in enumerate(bodies):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(data)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {
        "requests": len(bodies),
        "rate_asked": rate,
        "rate_achieved": round(len(bodies) / elapsed, 1),
        "latency_ms": {
            "p50": round(median(latencies) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        },
        "verdicts": verdicts,
        "errors": errors[:5],
        "error_count": len(errors),
    }


def rulebook_idle_rss(work) -> dict:
    """ansible-rulebook with the eda.builtin.webhook source, idle once it listens: its RSS with the JVM."""
    rulebook = [{
        "name": "idle", "hosts": "all",
        "sources": [{"eda.builtin.webhook": {"host": "127.0.0.1", "port": free_port()}}],
        "rules": [{"name": "print", "condition": "event.payload is defined", "action": {"debug": None}}],
    }]  # fmt: skip
    (work / "inventory.yml").write_text("all: {hosts: {localhost: {ansible_connection: local}}}\n")
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    proc = start_rulebook(work, rulebook, work / "inventory.yml", env)
    if proc is None:
        return {"skipped": "ansible-rulebook or Java 17 missing: run scripts/setup"}
    try:
        time.sleep(5)  # settled, as the receiver is measured
        return {"rss_kib": rss_kib(proc.pid), "processes": "ansible-rulebook and its children (the JVM is in-process)"}
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="alerts per second (distinct and mixed bursts)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the distinct and mixed bursts")
    parser.add_argument("--identical", type=int, default=10000, help="copies of one alert")
    parser.add_argument("--identical-rate", type=float, default=500.0)
    parser.add_argument("--publish", action="store_true", help="write the JSON into docs/benchmarks/")
    args = parser.parse_args()
    work = ROOT / ".cache" / "bench-load"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    (work / "out").mkdir(parents=True)
    (work / "hosts").write_text(f"web1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    route = {"name": "down", "alertname": "DemoAppDown", "playbook": str(ROOT / "tests/fixtures/receiver/record.yml"),
             "mitigation": "restart", "severities": ["critical"], "cooldown": 3600,
             "vars": {"out_dir": str(work / "out"), "hold": 2}}  # fmt: skip
    config = {"inventory": str(work / "hosts"), "ansible_config": str(ROOT / "ansible.cfg"),
              "data_dir": str(work / "data"), "routes": [route]}  # fmt: skip
    server = Receiver(work / "receiver", config, TOKEN).start()
    count = int(args.rate * args.seconds)
    url = f"{server.url}/alerts"
    result: dict = {"benchmark": "receiver under load (loopback, paced bursts)"}
    try:
        time.sleep(3)
        result["idle_rss_kib"] = rss_kib(server.proc.pid)
        same = body(alert("0000000000000001"))
        bursts = {
            "identical": ([same] * args.identical, args.identical_rate),
            "distinct": ([body(alert(f"{i:016x}", "warning")) for i in range(1, count + 1)], args.rate),
            "mixed": (
                [same if i % 10 == 0 else body(alert(f"{i:016x}", "warning")) for i in range(count + 1, 2 * count + 1)],
                args.rate,
            ),
        }
        for name, (bodies, rate) in bursts.items():
            print(f"{name}: {len(bodies)} alerts at {rate:.0f}/s ...", flush=True)
            with Sampler(server.proc.pid) as sampler:
                result[name] = asyncio.run(burst(url, bodies, rate))
            result[name]["peak_rss_kib"] = sampler.peak
            print(f"  {json.dumps(result[name])}", flush=True)
        deadline = time.monotonic() + 60
        while server.get("/jobs?state=running&limit=5")["jobs"] and time.monotonic() < deadline:
            time.sleep(0.5)
        jobs = server.get("/jobs?limit=1000")["jobs"]
        result["jobs_started"] = len(jobs)
        result["job_states"] = sorted(j["state"] for j in jobs)
        result["after_rss_kib"] = rss_kib(server.proc.pid)
    finally:
        server.stop()
    result["rulebook_idle"] = rulebook_idle_rss(work)
    rulebook_rss = result["rulebook_idle"].get("rss_kib")
    result["idle_rss_ratio_to_rulebook"] = round(result["idle_rss_kib"] / rulebook_rss, 3) if rulebook_rss else None
    result["goals"] = {
        "p99_under_50ms": all(result[n]["latency_ms"]["p99"] < 50 for n in ("identical", "distinct", "mixed")),
        "identical_one_job": result["jobs_started"] == 1,
        "idle_rss_at_most_0.3x_rulebook": bool(rulebook_rss) and result["idle_rss_ratio_to_rulebook"] <= 0.3,
    }
    print(f"\njobs started: {result['jobs_started']} {result['job_states']}")
    print(f"receiver RSS idle {result['idle_rss_kib'] / 1024:.1f} MiB, ansible-rulebook idle "
          f"{(rulebook_rss or 0) / 1024:.1f} MiB, ratio {result['idle_rss_ratio_to_rulebook']}")  # fmt: skip
    print(f"goals: {result['goals']}")
    write("load", result, args.publish)
    return 0


if __name__ == "__main__":
    sys.exit(main())
