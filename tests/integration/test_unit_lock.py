"""One lock per unit on the host for every mitigation: the incident role's lease, on a real systemd host.

An alert's job and an operator's rollback, config change or cache purge must not act on the same unit at
once. The other run's lease is planted on the host as unit_lock writes it (the module's own behaviour, waits
and races, is tested in tests/unit/plugins/modules/test_unit_lock.py); two real runs at once are
tests/integration/test_incident_flow.py::test_two_operators_restarting_the_same_host_at_once_restart_it_once.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
from fingerprints import differences, fingerprint
from hosts import deployed_host, host_name, image_exists, playbook
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-lock")
LEASE = "/var/lib/incident-remediation/locks/demo-app.service.lease"
QUARANTINE = "/var/lib/incident-remediation/quarantine"
# Each mitigation asked to act (forced where it would find a healthy service has nothing to do).
MITIGATIONS = {
    "restart": ["-e", "force=true"],
    "rollback": ["-e", "force=true"],
    "cache_purge": [],
    "memory_limit": ["-e", "value=2G"],
    "proxy_config": ["-e", "http_proxy=http://proxy.invalid:3128"],
    "config_change": ["-e", '{"set": {"log_level": "debug"}}'],
    "protect_data": ["-e", "reason=sqlite corruption"],
}


@pytest.fixture(scope="module")
def lock_host(tmp_path_factory):
    work = tmp_path_factory.mktemp("lock")
    with deployed_host(HOST, work / "inventory", free_port()) as (host, inventory):
        yield {"host": host, "inventory": inventory, "work": work}


def plant(host, owner: str, expires_in: float) -> dict:
    """Another run's lease, as unit_lock writes it."""
    now = time.time()
    lease = {"unit": "demo-app.service", "owner": owner, "holder": "rollback from ctl2", "host": HOST,
             "acquired": now - 5, "acquired_at": "2026-12-01T09:00:00Z", "expires": now + expires_in,
             "expires_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    host.sh(f"mkdir -p {LEASE.rsplit('/', 1)[0]} && cat > {LEASE} <<'EOF'\n{json.dumps(lease)}\nEOF")
    return lease


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
    return done, outcomes[0]


def lease_on(host) -> dict | None:
    text = host.sh(f"cat {LEASE}", check=False).stdout
    return json.loads(text) if text.strip() else None


@pytest.mark.parametrize("mitigation", list(MITIGATIONS))
def test_a_unit_another_incident_holds_is_waited_for_then_refused_naming_the_holder(lock_host, mitigation):
    host = lock_host["host"]
    held = plant(host, "INC-OTHER", expires_in=600)
    try:
        before = fingerprint(host)
        started = time.monotonic()
        done, outcome = run(lock_host, f"HELD-{mitigation}", mitigation, *MITIGATIONS[mitigation],
                            "-e", "incident_lock_wait=3")  # fmt: skip
        assert outcome["status"] == "refused", (outcome, done.stdout[-3000:])
        assert done.returncode != 0, "a refused incident fails the host"
        reason = outcome["reason"]
        assert "demo-app.service on this host is locked by incident INC-OTHER (rollback from ctl2)" in reason, reason
        assert "since 2026-12-01T09:00:00Z, until 2026-12-01T10:00:00Z" in reason and "waited 3" in reason, reason
        assert outcome["lock"] == reason.split(" (task: ")[0], "the outcome records the lock's verdict"
        assert time.monotonic() - started >= 3, "it waited the bound"
        assert differences(before, fingerprint(host)) == [], f"{mitigation} acted beside another incident"
        assert lease_on(host) == held, "the other incident's lease is left as it was"
    finally:
        host.sh(f"rm -f {LEASE}")


def test_an_expired_lease_is_taken_over_said_and_released_at_the_end(lock_host):
    host = lock_host["host"]
    plant(host, "INC-GONE", expires_in=-60)  # a run that crashed an hour ago
    pid = host.unit("MainPID")["MainPID"]
    done, outcome = run(lock_host, "TAKEOVER-1", "restart", "-e", "force=true")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-3000:])
    assert outcome["lock"].startswith("lease taken over from incident INC-GONE (rollback from ctl2)"), outcome
    assert "that run is gone" in outcome["lock"] and "lease taken over" in " ".join(done.stdout.split())
    assert host.unit("MainPID")["MainPID"] != pid, "restarted"
    assert lease_on(host) is None, "released after verify"


def test_a_run_that_waited_reads_the_host_after_the_wait_and_acts_on_what_it_finds(lock_host):
    host = lock_host["host"]
    plant(host, "INC-OTHER", expires_in=600)
    # the other incident stops the service, then ends, while this run waits in acknowledge's read
    host.sh(f"nohup sh -c 'sleep 20; systemctl stop demo-app.service; rm -f {LEASE}' >/dev/null 2>&1 &")
    done, outcome = run(lock_host, "WAITED-1", "restart", "-e", "incident_lock_wait=60")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-3000:])
    assert "after waiting" in outcome["lock"] and "for incident INC-OTHER" in outcome["lock"], outcome
    assert outcome["diagnosis"]["unit"].startswith("inactive/"), "the read was made after the wait, not before it"
    assert host.unit("ActiveState")["ActiveState"] == "active", "restarted: unforced, on what the read found"
    assert lease_on(host) is None


def test_a_run_that_waited_does_not_act_on_what_the_other_run_quarantined(lock_host):
    host = lock_host["host"]
    plant(host, "INC-OTHER", expires_in=600)
    marker = {"unit": "demo-app.service", "incident": "INC-OTHER", "since": "T", "reason": "tampering suspected"}
    host.sh(f"mkdir -p {QUARANTINE} && echo {shlex.quote(json.dumps(marker))} > /tmp/marker.json")
    host.sh(f"nohup sh -c 'sleep 20; mv /tmp/marker.json {QUARANTINE}/demo-app.service.json; rm -f {LEASE}' "
            ">/dev/null 2>&1 &")  # fmt: skip
    try:
        pid = host.unit("MainPID")["MainPID"]
        done, outcome = run(lock_host, "WAITED-2", "restart", "-e", "force=true", "-e", "incident_lock_wait=60")
        assert outcome["status"] == "diagnosed", (outcome, done.stdout[-3000:])
        assert "is quarantined since T by incident INC-OTHER (tampering suspected)" in outcome["reason"], outcome
        assert host.unit("MainPID")["MainPID"] == pid, "nothing restarted"
        assert lease_on(host) is None, "the lease the read took is released"
    finally:
        host.sh(f"rm -f {QUARANTINE}/demo-app.service.json")


def test_a_mitigation_that_fails_still_releases_the_unit(lock_host):
    host = lock_host["host"]
    done, outcome = run(lock_host, "FAILS-1", "rollback", "-e", "version=9.9.9", "-e", "force=true")
    assert outcome["status"] == "failed" and done.returncode != 0, outcome
    assert lease_on(host) is None, "the always: block released it"
    done, outcome = run(lock_host, "AFTER-1", "restart", "-e", "force=true", "-e", "incident_lock_wait=0")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-3000:])
