"""Health by command on a real systemd host (issue 23 item 2; seed 003's ``scripts/health_check.sh``).

The service describes no health URL, only its own health command: a script on the host that asks the demo's
``/health`` with curl and exits 0 when it says ready (seed 003 P0 step 3: "./scripts/health_check.sh, should
exit with code 0"). A crashed service is restarted by the incident and proved healthy by that command; a
mitigation that does not prove health itself (config_change without a URL) is verified by the incident's
verify phase running it. The probe itself (timeouts, process groups, output caps, argv as data) is tested in
tests/unit/plugins/module_utils/test_health.py.
"""

from __future__ import annotations

import json

import pytest
from hosts import deployed_host, host_name, image_exists, playbook, write_inventory
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-health-command")
CHECK = "/usr/local/bin/demo-health-check"
RUNS = "/run/demo-health-check.runs"
# An argument with a space and a ';': it reaches the script as one argument, never a shell's words.
ARGV = [CHECK, "--service", "demo app; touch /tmp/pwned"]
SCRIPT = f"""#!/bin/sh
# seed 003's scripts/health_check.sh for the demo: exit 0 when /health says ready
echo "$# $2" >> {RUNS}
body=$(curl -fsS --max-time 2 http://127.0.0.1:8080/health) || {{ echo "health endpoint not answering" >&2; exit 1; }}
echo "$body" | grep -q '"status": *"ready"' || {{ echo "not ready: $body" >&2; exit 1; }}
echo ready
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("health-command")
    with deployed_host(HOST, work / "inventory", free_port()) as (server, _):
        server.sh(f"cat > {CHECK} <<'EOF'\n{SCRIPT}EOF\nchmod 0755 {CHECK}")
        # the service as an operator describes it: no health URL, its health is the command
        inventory = write_inventory(work / "inventory", [HOST], {"health_url": "", "health_command": ARGV,
                                                                 "health_command_timeout": 5})  # fmt: skip
        yield {"host": server, "inventory": inventory, "work": work}


def run(stack, name: str, mitigation: str, *extra: str):
    incidents = stack["work"] / name
    done = playbook(
        stack["inventory"], f"incident.remediation.{mitigation}", "--limit", HOST, "-e", "service=demo-app",
        "-e", f"incident_id={name}", "-e", f"incident_evidence_dir={incidents}", *extra,
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    timeline = incidents / name / "timeline.jsonl"
    events = [json.loads(line) for line in timeline.read_text().splitlines()] if timeline.exists() else []
    outcomes = [e["data"] for e in events if e["event"] == "outcome"]
    assert outcomes, done.stdout[-4000:] + done.stderr[-2000:]
    return done, outcomes[0], events


def runs(server) -> list[str]:
    return server.sh(f"cat {RUNS} 2>/dev/null; rm -f {RUNS}", check=False).stdout.splitlines()


def test_a_crashed_service_is_restarted_and_proved_healthy_by_its_health_command(host):
    server = host["host"]
    server.crash()
    assert server.unit("ActiveState")["ActiveState"] != "active"
    runs(server)
    done, outcome, events = run(host, "INC-HEALTH-CMD-1", "restart")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-4000:])
    assert server.unit("ActiveState")["ActiveState"] == "active" and server.health()["status"] == "ready"

    seen = runs(server)
    assert len(seen) >= 2, f"asked by the read (unhealthy) and after the restart (healthy): {seen}"
    assert set(seen) == {"2 demo app; touch /tmp/pwned"}, "the argv items are data: two arguments, no shell"
    assert server.sh("test -e /tmp/pwned", check=False).returncode == 1

    assert outcome["result"]["outcome"] == "fixed", outcome["result"]
    checks = {c["check"]: c["result"] for c in outcome["verification"]}
    proved = checks.get(f"health {' '.join(ARGV)}", "")
    assert proved.startswith('"health command exit 0" after '), checks
    # the read before the restart: the command's verdict in its words (its stderr's last line) is the diagnosis
    assert outcome["diagnosis"]["health"] == f"{CHECK} exited 1: health endpoint not answering", outcome["diagnosis"]
    tasks = {e["task"].split(" : ")[-1]: e for e in events if e["event"] == "task"}
    verify = "Verify that the unit is active and its health command passes (no health endpoint)"
    assert tasks.get(verify, {}).get("status") in (None, "skipped"), "the restart proved health: not asked again"


def test_a_mitigation_that_does_not_prove_health_is_verified_by_the_command(host):
    server = host["host"]
    runs(server)
    done, outcome, events = run(host, "INC-HEALTH-CMD-2", "config_change", "-e", '{"set": {"log_level": "debug"}}')
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-4000:])
    tasks = {e["task"].split(" : ")[-1]: e for e in events if e["event"] == "task"}
    verify = "Verify that the unit is active and its health command passes (no health endpoint)"
    assert tasks[verify]["status"] == "ok", tasks.get(verify)
    assert len(runs(server)) >= 2, "asked by the read and by the verify phase"
    checks = {c["check"]: c["result"] for c in outcome["verification"]}
    assert checks.get(f"health {' '.join(ARGV)}", "").startswith("exit 0 after "), checks


def test_check_mode_runs_the_health_command_being_a_read_and_changes_nothing(host):
    server = host["host"]
    server.crash()
    runs(server)
    done, outcome, _ = run(host, "INC-HEALTH-CMD-3", "restart", "--check")
    assert outcome["status"] == "checked", (outcome, done.stdout[-4000:])
    assert server.unit("ActiveState")["ActiveState"] != "active", "check mode restarted nothing"
    assert runs(server) == ["2 demo app; touch /tmp/pwned"], "the read ran the command once, in check mode too"
    assert outcome["diagnosis"]["health"] == f"{CHECK} exited 1: health endpoint not answering"
