"""The memory_limit role on a real systemd host that enforces memory limits, against a real Prometheus (seed 000,
runbook 5, memory exhaustion).

The host runs privileged with a private cgroup namespace, so the kernel enforces MemoryMax (docs/testing.md).
Prometheus scrapes the demo service and an exporter on loopback whose lifecycle counters the test sets
(``oneiric_lifecycle_swap_total``, ``oneiric_lifecycle_cleanup_total``, ``oneiric_lifecycle_active_instances``,
the runbook's metric names, the role's defaults):

- a leak (swaps minus cleanups growing over the window, scenario A): the limit is not raised, the result is
  ``refused`` and says to restart (the ladder's next rung);
- real load (the difference flat, scenario C): the limit is raised to the formula's value, the instance count is
  verified below what the new limit holds, and no OOM kill since the change;
- ``MemoryMax=infinity`` (no limit): refused unless asked to impose one.

One podman host, remediation-it-memory.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from hosts import IMAGE, PodmanHost, deploy, host_name, image_exists, write_inventory
from monitoring import Exporter, Prometheus, free_port
from role_runs import REQUIRED, run_role

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-memory")
DROPINS = "/etc/systemd/system/demo-app.service.d"
WINDOW = 6  # seconds of the leak query's window (the role's default is the runbook's 15 minutes)
PROMETHEUS_VARS = {
    "memory_limit_instances_query": "sum(demo_app_active_instances)",  # the service's own count, after the restart too
    "memory_limit_leak_query": f"sum(increase(oneiric_lifecycle_swap_total[{WINDOW}s]))"
                               f" - sum(increase(oneiric_lifecycle_cleanup_total[{WINDOW}s]))",
    "memory_limit_leak_threshold": 3,
    "memory_limit_verify_hold": 3, "memory_limit_verify_wait": 30, "memory_limit_verify_interval": 1,
}  # fmt: skip


class Lifecycle:
    """The runbook's lifecycle counters, one swap a second: each cleaned up (load) or not (a leak)."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter, self.leaking, self.stopping = exporter, False, threading.Event()
        self.swaps = self.cleanups = 0
        self.publish()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def publish(self) -> None:
        self.exporter.set("oneiric_lifecycle_swap_total", self.swaps, domain="adapter")
        self.exporter.set("oneiric_lifecycle_cleanup_total", self.cleanups, domain="adapter")

    def run(self) -> None:
        while not self.stopping.wait(1):
            self.swaps += 1
            self.cleanups += 0 if self.leaking else 1
            self.publish()  # a scrape between the two sees one swap not yet cleaned up: below the threshold

    def shape(self, leaking: bool) -> None:
        """Leak or load from now on, for a whole window before the role asks."""
        self.leaking = leaking
        time.sleep(WINDOW + 2)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


class EnforcingHost(PodmanHost):
    """A podman host whose kernel enforces the unit's MemoryMax (privileged, private cgroup namespace)."""

    def start(self, timeout: float = 30) -> PodmanHost:
        subprocess.run(["podman", "rm", "-f", self.name], capture_output=True, check=False)
        subprocess.run(
            ["podman", "run", "-d", "--name", self.name, "--hostname", self.name, "--systemd=always",
             "--privileged", "--cgroupns=private", "-p", f"127.0.0.1:{self.port}:8080", IMAGE, "/lib/systemd/systemd"],
            capture_output=True, check=True,
        )  # fmt: skip
        return self.wait_for_systemd(timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("memory")
    exporter = Exporter()
    lifecycle = Lifecycle(exporter)
    server = EnforcingHost(HOST, free_port())
    prometheus = None
    try:
        server.start()
        inventory = write_inventory(work / "inventory", [HOST], {})
        deploy(inventory, HOST, {"demo_app_config": {"instances": 6, "instance_memory_mb": 5}})
        prometheus = Prometheus(work / "prometheus", targets=[exporter.address, f"127.0.0.1:{server.port}"]).start()
        prometheus.wait_for(f'up{{instance="127.0.0.1:{server.port}"}} == 1', timeout=30)
        yield {"host": server, "inventory": inventory, "work": work, "lifecycle": lifecycle, "prometheus": prometheus}
    finally:
        lifecycle.stop()
        if prometheus:
            prometheus.stop()
        server.stop()
        exporter.stop()


def memory_limit(stack, name: str, **variables) -> tuple[int, dict | None, list[dict]]:
    """The role on its own on the host: (rc, memory_limit_result, the messages of the tasks run)."""
    folder = stack["work"] / name
    folder.mkdir()
    given = {**REQUIRED["memory_limit"], "memory_limit_health_url": "http://127.0.0.1:8080/health", **variables}
    rc, ran = run_role(folder, "memory_limit", given, inventory=stack["inventory"], host=HOST)
    handed = [task["mitigation_result"] for task in ran if "mitigation_result" in task]
    return rc, (handed[-1] if handed else None), [(task["task"], task.get("msg")) for task in ran if task.get("msg")]


def unlimited(stack) -> None:
    """No MemoryMax of ours or anyone's: the unit runs with MemoryMax=infinity."""
    stack["host"].sh(f"rm -rf {DROPINS} && systemctl daemon-reload && systemctl restart demo-app.service")
    assert stack["host"].unit("MemoryMax") == {"MemoryMax": "infinity"}


def test_no_limit_in_force_is_not_replaced_by_one_unless_asked(stack):
    """MemoryMax=infinity: the service has no limit to raise; imposing one is a new risk, never a silent default."""
    unlimited(stack)
    rc, result, ran = memory_limit(stack, "infinity", memory_limit_instances=6)
    assert rc != 0 and result, ran[-3:]
    assert result["outcome"] == "refused" and not result["changed"], result
    assert "MemoryMax is infinity" in result["message"] and "memory_limit_allow_unlimited" in result["message"], result
    assert stack["host"].unit("MemoryMax") == {"MemoryMax": "infinity"}
    assert stack["host"].sh(f"ls {DROPINS}", check=False).stdout == ""


def too_low(stack) -> None:
    """MemoryMax=150M set earlier, as the alert finds it (the service fits: 6 instances of 5 MB)."""
    stack["host"].sh(
        f"rm -rf {DROPINS} && mkdir -p {DROPINS} && printf '[Service]\\nMemoryMax=150M\\n' > {DROPINS}/40-limits.conf"
        " && systemctl daemon-reload && systemctl restart demo-app.service"
    )
    assert stack["host"].unit("MemoryMax") == {"MemoryMax": str(150 * 1024**2)}


def test_a_leak_is_not_given_more_memory_a_restart_is_advised(stack):
    """Scenario A: swaps go on, cleanups do not: the limit stays, the result is refused and says to restart, so
    the ladder's next rung (restart) runs."""
    too_low(stack)
    stack["lifecycle"].shape(leaking=True)
    prometheus = stack["prometheus"].url
    rc, result, ran = memory_limit(stack, "leak", memory_limit_prometheus_url=prometheus, **PROMETHEUS_VARS)
    assert rc != 0 and result, ran[-3:]
    assert result["outcome"] == "refused" and not result["changed"], result
    assert result["message"].startswith("refused: a leak, not load: instances not cleaned up grew by"), result
    assert "restart the service to force the cleanup (runbook 5, scenario A)" in result["message"], result
    assert result["details"]["advice"] == "restart" and result["details"]["leak"]["leak"] is True, result
    assert result["details"]["instances"] == "6" and "in Prometheus" in result["details"]["counted"], result
    assert stack["host"].unit("MemoryMax") == {"MemoryMax": str(150 * 1024**2)}, "the limit was left as it was"
    assert stack["host"].sh(f"ls {DROPINS}").stdout.split() == ["40-limits.conf"]


def test_real_load_is_given_the_memory_it_needs_verified_and_not_oom_killed(stack):
    """Scenario C: every swap cleaned up, the instance count real: 6 x 50 MB + 500 MB -> 2G, the count below what
    2G holds for the hold, no OOM kill since the change. Run again: unchanged."""
    too_low(stack)
    stack["lifecycle"].shape(leaking=False)
    prometheus = stack["prometheus"].url
    rc, result, ran = memory_limit(stack, "load", memory_limit_prometheus_url=prometheus, **PROMETHEUS_VARS)
    assert rc == 0 and result, ran[-3:]
    assert result["outcome"] == "fixed" and result["changed"], result
    assert stack["host"].unit("MemoryMax") == {"MemoryMax": str(2 * 1024**3)}
    assert result["details"]["leak"]["leak"] is False and result["details"]["to"] == "2G", result
    steps = [step["step"] for step in result["steps"]]
    assert steps == ["read", "size", "leak", "drop-in", "restart", "verify", "health", "instances", "oom"], steps
    checks = {entry["check"]: entry["result"] for entry in result["verified"] if entry["kind"] == "other"}
    assert checks.get("sum(demo_app_active_instances) < 30 for 3 s", "").startswith("held "), checks
    assert "no OOM line in the journal" in checks.get("no OOM kill of demo-app.service since the change", ""), checks
    assert result["message"].endswith("the instance count below 30 for 3 s, no OOM kill since the change"), result
    rc, again, _ = memory_limit(stack, "load-again", memory_limit_prometheus_url=prometheus, **PROMETHEUS_VARS)
    assert rc == 0 and again["outcome"] == "unchanged" and not again["changed"], again


def test_an_oom_kill_after_the_change_fails_the_run(stack):
    """The check can fail: lowered to 96M (asked to), the service fits at first (6 x 5 MB); while the role holds
    its verification the service grows to 20 instances and the kernel kills it (systemd starts it again). The run
    fails, saying so."""
    too_low(stack)
    host = stack["host"]
    before = host.unit("MainPID")  # the process the role's restart replaces (it would grow under 96M too)
    grown = threading.Event()

    def grow() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not grown.is_set():
            if (
                host.unit("MemoryMax") == {"MemoryMax": str(96 * 1024**2)}
                and host.unit("MainPID") != before
                and (host.health() or {}).get("uptime_seconds", 0) >= 20  # the role past its health check, holding
            ):
                host.sh("curl -sf -X POST -d '{\"instances\": 20}' http://127.0.0.1:8080/control/faults", check=False)
                grown.set()
            time.sleep(0.5)

    grower = threading.Thread(target=grow, daemon=True)
    grower.start()
    prometheus = stack["prometheus"].url
    lowered = {"memory_limit_value": "96M", "memory_limit_allow_decrease": True}
    # a count that always holds (96M holds no instance by the formula): the OOM check comes after the hold
    verify = {
        "memory_limit_instances_query": "vector(1)",
        "memory_limit_verify_below": 2,
        "memory_limit_verify_hold": 30,
    }
    rc, result, ran = memory_limit(
        stack, "oom", memory_limit_prometheus_url=prometheus, **{**PROMETHEUS_VARS, **lowered, **verify}
    )
    grown.set()
    grower.join(timeout=5)
    assert rc != 0 and result, ran[-3:]
    assert result["outcome"] == "failed" and result["changed"], result
    assert "was killed for memory under MemoryMax=96M since the change" in result["message"], result
