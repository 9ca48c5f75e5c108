"""Tampering is a fleet event (seed 000, runbook 4B "STOP ALL ONEIRIC INSTANCES", 4C "if signature fails, DO NOT
PROCEED"): the cache_purge role on three real systemd hosts of one inventory group, two of them in the play.

- Check mode on a tampered cache changes nothing on any host and says what would be stopped, not "is stopped".
- One corrupted artifact on each of the two hosts is two against the fleet's threshold of one: the service is
  stopped on both, evidence is kept on each, and one SECURITY escalation is raised, on one host, naming both.
- A manifest whose Ed25519 signature does not verify, on the one host of the play, stops everything before any
  purge, on the other host of the group too (outside the play): the corrupted artifact is still there.

The keys are made here with cryptography; the trusted copy of the manifest is served on loopback. Two podman
hosts of group demo_app, remediation-it-tamper-1 and -2, shared by the file.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hosts import PodmanHost, deploy, host_name, image_exists, playbook, write_inventory
from monitoring import free_port
from role_runs import REQUIRED

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOSTS = [host_name(f"remediation-it-tamper-{n}") for n in (1, 2)]
CACHE = "/var/cache/demo-app"
MANIFEST = f"{CACHE}/manifest.sha256"
QUARANTINE = "/var/lib/incident-remediation/quarantine/demo-app.service.json"
RESYNC = ["python3", "/opt/demo-app/current/demo_app.py", "--config", "/etc/demo-app/config.yml", "resync"]


class TrustedCopy:
    """The publisher's manifest, served on loopback (runbook 4 step 4: re-download from the trusted source)."""

    def __init__(self) -> None:
        self.body = b""
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oneiric/manifest.sha256"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("tamper-fleet")
    servers = [PodmanHost(name, free_port()) for name in HOSTS]
    trusted = TrustedCopy()
    try:
        for server in servers:
            server.start()
        inventory = write_inventory(work / "inventory", HOSTS, {})
        deploy(inventory, ",".join(HOSTS))
        trusted.body = servers[0].sh(f"cat {MANIFEST}").stdout.encode()
        key = Ed25519PrivateKey.generate()
        (work / "signing.pub").write_bytes(
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        yield {"servers": servers, "inventory": inventory, "work": work, "key": key, "trusted": trusted}
    finally:
        trusted.server.shutdown()
        for server in servers:
            server.stop()


def reset(fleet, signature: bytes | None = None) -> None:
    """Every host as deployed: the cache restored, no quarantine, no evidence, the service running; signed."""
    for server in fleet["servers"]:
        server.sh(f"rm -rf /var/lib/incident-remediation /var/tmp/incident-remediation-cache-* {MANIFEST}.sig; "
                  f"{' '.join(RESYNC)} >/dev/null && systemctl restart demo-app.service")  # fmt: skip
        sig = signature if signature is not None else fleet["key"].sign(server.sh(f"cat {MANIFEST}").stdout.encode())
        server.sh(f"printf '%s' '{sig.hex()}' | python3 -c 'import sys; open(\"{MANIFEST}.sig\", \"wb\")"
                  f".write(bytes.fromhex(sys.stdin.read()))'")  # fmt: skip


def corrupt(server: PodmanHost, *artifacts: str) -> None:
    for name in artifacts:
        server.sh(f"echo corrupted > {CACHE}/{name}")


def purge(fleet, name: str, *flags: str, hosts: tuple[str, ...] = tuple(HOSTS), **variables) -> tuple[int, dict, str]:
    """The role on the hosts of the play (default both); (rc, cache_purge_result per host, output)."""
    work = fleet["work"]
    out = work / name
    out.mkdir()
    play = [{
        "name": "purge", "hosts": ",".join(hosts), "gather_facts": False,
        "tasks": [{"block": [{"ansible.builtin.include_role": {"name": "incident.remediation.cache_purge"}}],
                   "always": [{"ansible.builtin.copy": {"content": "{{ cache_purge_result | default({}) | to_json }}",
                                                        "dest": f"{out}/{{{{ inventory_hostname }}}}.json",
                                                        "mode": "0600"},
                               "delegate_to": "localhost", "check_mode": False}]}],
    }]  # fmt: skip
    (out / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    given = {
        **REQUIRED["cache_purge"], "cache_purge_resync_command": RESYNC, "cache_purge_incident_id": f"INC-{name}",
        "cache_purge_evidence_dir": str(out / "evidence"), "cache_purge_health_url": "http://127.0.0.1:8080/health",
        "cache_purge_manifest_public_key": str(work / "signing.pub"), **variables,
    }  # fmt: skip
    done = playbook(fleet["inventory"], str(out / "play.yml"), *flags, "-e", json.dumps(given))
    results = {
        host: json.loads((out / f"{host}.json").read_text()) for host in hosts if (out / f"{host}.json").exists()
    }
    return done.returncode, results, done.stdout[-6000:] + done.stderr[-2000:]


def state(server: PodmanHost) -> dict:
    return {
        "active": server.unit("ActiveState")["ActiveState"],
        "quarantined": server.sh(f"test -e {QUARANTINE}", check=False).returncode == 0,
        "archives": server.sh("ls /var/tmp/incident-remediation-cache-*/cache.tar.gz", check=False).stdout.split(),
        "bad": sorted(line.split(":")[0] for line in server.sh(f"cd {CACHE} && sha256sum --check manifest.sha256",
                                                               check=False).stdout.splitlines() if "FAILED" in line),
    }  # fmt: skip


def test_check_mode_on_a_tampered_cache_changes_nothing_on_any_host_and_says_what_would_be_stopped(fleet):
    reset(fleet)
    first = fleet["servers"][0]
    corrupt(first, "artifact-02.bin", "artifact-03.bin")
    rc, results, output = purge(fleet, "check", "--check", hosts=(HOSTS[0],),
                                cache_purge_manifest_trusted_url=fleet["trusted"].url)  # fmt: skip
    assert rc != 0, output
    raised = results[HOSTS[0]]
    assert raised["outcome"] == "security" and raised["check_mode"], output
    assert "is stopped" not in raised["message"] and "would be stopped" in raised["message"], raised["message"]
    assert "is quarantined" not in raised["message"], raised["message"]
    assert raised["message"].startswith("SECURITY: 2 artifacts in /var/cache/demo-app do not match"), raised
    assert f"on every host of group demo_app: {HOSTS[1]}" in raised["message"], raised["message"]
    assert raised["details"]["manifest_trust"]["ok"] is True, raised["details"]
    assert [c["method"] for c in raised["details"]["manifest_trust"]["checks"]] == ["signature", "trusted_copy"]
    assert raised["details"]["escalation"]["stop"] == sorted(HOSTS) and raised["details"]["escalation"]["stopped"] == []
    for server in fleet["servers"]:
        bad = ["artifact-02.bin", "artifact-03.bin"] if server is first else []
        assert state(server) == {"active": "active", "quarantined": False, "archives": [], "bad": bad}, server.name


def test_corruption_is_counted_across_the_fleet_and_stops_every_host_of_the_group_with_one_escalation(fleet):
    reset(fleet)
    corrupt(fleet["servers"][0], "artifact-02.bin")
    corrupt(fleet["servers"][1], "artifact-04.bin")
    rc, results, output = purge(fleet, "fleet")
    assert rc != 0, output
    raised, joined = results[HOSTS[0]], results[HOSTS[1]]
    assert raised["outcome"] == "security" and joined["outcome"] == "security", output
    escalation = raised["details"]["escalation"]
    assert escalation["raised"] and escalation["stop"] == sorted(HOSTS) and escalation["group"] == "demo_app"
    assert escalation["stopped"] == sorted(HOSTS) and escalation["not_stopped"] == [], escalation
    assert escalation["corrupted"] == 2 and escalation["threshold"] == 1, escalation
    assert not joined["details"]["escalation"]["raised"] and joined["details"]["escalation"]["raised_on"] == HOSTS[0]
    assert raised["message"].startswith("SECURITY: "), raised["message"]
    assert "2 corrupted or unexpected artifacts across 2 host(s) of demo_app" in raised["message"], raised["message"]
    assert all(host in raised["message"] for host in HOSTS), raised["message"]
    assert sum(r["message"].startswith("SECURITY: ") and r["details"]["escalation"]["raised"]
               for r in results.values()) == 1  # fmt: skip
    record = json.loads(Path(raised["details"]["escalation"]["record"]).read_text())
    assert record["stop"] == sorted(HOSTS) and sorted(record["stopped"]) == sorted(HOSTS), record
    assert record["findings"] == {HOSTS[0]: {"corrupted": ["artifact-02.bin"], "unexpected": []},
                                  HOSTS[1]: {"corrupted": ["artifact-04.bin"], "unexpected": []}}  # fmt: skip
    bad = {HOSTS[0]: ["artifact-02.bin"], HOSTS[1]: ["artifact-04.bin"]}
    for server in fleet["servers"]:
        now = state(server)
        assert now["active"] == "inactive" and now["quarantined"], (server.name, now)
        assert len(now["archives"]) == 1 and now["bad"] == bad[server.name], (server.name, now)


def test_a_manifest_whose_signature_does_not_verify_stops_everything_before_any_purge(fleet):
    reset(fleet, signature=fleet["key"].sign(b"another manifest"))
    corrupt(fleet["servers"][0], "artifact-02.bin")
    rc, results, output = purge(fleet, "bad-signature", hosts=(HOSTS[0],))
    assert rc != 0, output
    [raised] = results.values()
    assert raised["outcome"] == "security" and raised["details"]["removed"] == [], raised
    assert raised["details"]["manifest_trust"]["ok"] is False, raised["details"]
    assert "does not verify with the configured public key" in raised["message"], raised["message"]
    assert raised["details"]["escalation"]["kind"] == "manifest" and raised["details"]["escalation"]["raised"]
    assert raised["details"]["escalation"]["stopped"] == sorted(HOSTS), raised["details"]["escalation"]
    for server in fleet["servers"]:
        now = state(server)
        assert now["active"] == "inactive" and now["quarantined"] and len(now["archives"]) == 1, (server.name, now)
    assert state(fleet["servers"][0])["bad"] == ["artifact-02.bin"]
    assert fleet["servers"][0].sh(f"cat {CACHE}/artifact-02.bin").stdout == "corrupted\n"
