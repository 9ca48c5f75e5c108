"""Check mode changes nothing on a host, byte for byte: each of the six mitigations through remediate.yml.

A real systemd host where every mitigation has something to do (two releases to roll back between, a corrupted
cache artifact, a MemoryMax to size from the service's metrics, a proxy and a config key to set, a restart
forced); a fingerprint of everything the roles touch (files with their modes, owners, mtimes and digests, the
folders they create things in, the budget, lease and quarantine folders, the unit's state and drop-ins) is
taken before and after a `--check` run of each, and must not differ.
"""

from __future__ import annotations

import json

import pytest
from fingerprints import differences, fingerprint
from hosts import ROOT, deploy, deployed_host, host_name, image_exists, playbook
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-check")
# The options that make each mitigation act (through remediate.yml, as every per-mitigation playbook does).
MITIGATIONS = {
    "restart": {"force": True},
    "rollback": {"force": True},
    "cache_purge": {},
    "memory_limit": {},  # sized from the instance count in the service's metrics
    "proxy_config": {"state": "present", "http_proxy": "http://proxy.invalid:3128"},
    "config_change": {"set": {"log_level": "debug"}},
    "protect_data": {"reason": "sqlite corruption"},  # the demo's cache as its data (inventories/test)
}


@pytest.fixture(scope="module")
def check_host(tmp_path_factory):
    work = tmp_path_factory.mktemp("check")
    with deployed_host(HOST, work / "inventory", free_port()) as (host, inventory):
        deploy(inventory, HOST, {"demo_app_releases": [{"version": "1.0.0"}, {"version": "2.0.0"}]})
        host.sh("printf 'tampered\\n' > /var/cache/demo-app/artifact-02.bin")  # one corrupted artifact
        yield {"host": host, "inventory": inventory, "work": work}


@pytest.mark.parametrize("mitigation", list(MITIGATIONS))
def test_check_mode_leaves_the_host_byte_for_byte_as_it_was(check_host, mitigation):
    host = check_host["host"]
    incidents = check_host["work"] / mitigation
    before = fingerprint(host)
    done = playbook(
        check_host["inventory"], str(ROOT / "playbooks" / "remediate.yml"), "--check", "--limit", HOST,
        "-e", json.dumps({"service": "demo-app", "mitigation": mitigation, "options": MITIGATIONS[mitigation],
                          "incident_id": f"CHECK-{mitigation}", "incident_evidence_dir": str(incidents)}),
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    events = [
        json.loads(line) for line in (incidents / f"CHECK-{mitigation}" / "timeline.jsonl").read_text().splitlines()
    ]
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert done.returncode == 0 and outcome["status"] == "checked", (outcome, done.stdout[-4000:])
    would = [e["task"] for e in events if e["event"] == "task" and e["phase"] == "resolve" and e["status"] == "changed"
             and "lock the unit" not in e["task"].lower()]  # fmt: skip
    assert would, f"{mitigation} had something to do and said what it would change"
    assert differences(before, fingerprint(host)) == [], f"check mode of {mitigation} changed the host"
    assert not (incidents / f"CHECK-{mitigation}" / HOST).exists(), "no evidence written in check mode"
