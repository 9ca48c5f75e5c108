"""A no-op run is recorded as one: remediate.yml of a mitigation on a host where nothing needs doing.

The record states only what happened (issue 22): the outcome carries the mitigation's own result
(``unchanged``), the reason says the mitigation changed nothing and why, and the report shows it; nothing
says "purged", "MemoryMax set" or "proxy environment present". Every mitigation role hands back
its result (docs/mitigation-contract.md): all six.
"""

from __future__ import annotations

import json
import time

import pytest
from fingerprints import differences, fingerprint
from hosts import ROOT, deploy, deployed_host, host_name, image_exists, playbook
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-noop")
LOCKS = "/var/lib/incident-remediation/locks"  # every real run takes its lease there and releases it
# The options of a run with nothing to do on a freshly deployed, healthy host; what the old record said instead.
NOOPS = {
    "restart": ({}, None),  # healthy, not forced: no restart
    "rollback": ({}, None),  # healthy, not forced: no switch
    "proxy_config": ({"state": "absent"}, "proxy environment absent"),
    "cache_purge": ({}, "corrupted artifacts purged and re-synced"),  # every artifact matches its manifest
    "memory_limit": ({"instances": 1}, "MemoryMax set"),  # 1 G from the formula, below the 2G in force (SETUP)
    "config_change": ({"set": {"port": 8080}}, "changed and verified"),  # the value it already has
}


# What a host needs beforehand for the run to have nothing to do (and how to undo it): a limit in force above the
# formula's target. (An unlimited unit is given one: that is a change, not a no-op.)
DROPIN = "/etc/systemd/system/demo-app.service.d/40-noop-test.conf"
SETUP = {
    "memory_limit": (f"mkdir -p {DROPIN.rsplit('/', 1)[0]} && printf '[Service]\\nMemoryMax=2G\\n' > {DROPIN}"
                     " && systemctl daemon-reload && systemctl restart demo-app.service",
                     f"rm -f {DROPIN} && systemctl daemon-reload && systemctl restart demo-app.service"),
}  # fmt: skip


@pytest.fixture(scope="module")
def noop_host(tmp_path_factory):
    work = tmp_path_factory.mktemp("noop")
    with deployed_host(HOST, work / "inventory", free_port()) as (host, inventory):
        deploy(inventory, HOST)
        # the incident's lease folder, which any real run creates (a lease is taken and released in it)
        host.sh(f"mkdir -p -m 0700 {LOCKS}")
        yield {"host": host, "inventory": inventory, "work": work}


@pytest.mark.parametrize("mitigation", list(NOOPS))
def test_a_run_with_nothing_to_do_is_recorded_as_changing_nothing(noop_host, mitigation):
    host, incidents = noop_host["host"], noop_host["work"] / mitigation
    setup, undo = SETUP.get(mitigation, ("", ""))
    if setup:
        host.sh(setup)
        deadline = time.monotonic() + 60
        while (host.health() or {}).get("status") != "ready" and time.monotonic() < deadline:
            time.sleep(0.5)
    try:
        check_a_noop_run(noop_host, mitigation, host, incidents)
    finally:
        if undo:
            host.sh(undo)


def check_a_noop_run(noop_host, mitigation, host, incidents):
    options, old_claim = NOOPS[mitigation]
    before = fingerprint(host)
    done = playbook(
        noop_host["inventory"], str(ROOT / "playbooks" / "remediate.yml"), "--limit", HOST,
        "-e", json.dumps({"service": "demo-app", "mitigation": mitigation, "options": options,
                          "incident_id": f"NOOP-{mitigation}", "incident_evidence_dir": str(incidents)}),
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    folder = incidents / f"NOOP-{mitigation}"
    events = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-4000:])
    assert outcome["result"]["outcome"] == "unchanged" and outcome["result"]["changed"] is False, outcome
    assert f"the {mitigation} changed nothing: " in outcome["reason"], outcome["reason"]
    assert outcome["result"]["message"] in outcome["reason"]
    said = json.dumps(outcome)
    assert old_claim is None or old_claim not in said, "the record says what did not happen"
    report = (folder / "report.md").read_text()
    assert f"Mitigation {mitigation}: unchanged, " in report.replace("\\_", "_"), report
    assert old_claim is None or old_claim not in report
    changed = [d for d in differences(before, fingerprint(host)) if not d.startswith(f"{LOCKS}:")]
    assert changed == [], f"{mitigation} changed the host on a no-op run (beside the incident's lease folder)"
