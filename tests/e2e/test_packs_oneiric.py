"""Oneiric's pack (inventories/oneiric/, seed 000) end to end, with its own files: its rules.yml (shortened),
alertmanager.yml, remediate.yml and service description, with only the test overrides of
tests/support/pack_stack.py. Oneiric runs as the demo's oneiric profile (unit oneiric, its cache of six artifacts
under /var/cache/oneiric with a sha256sum manifest) on one podman host (`packs-oneiric`); the manifest is signed
with a key made for the run and its trusted copy served on loopback (pack_stack.ManifestPublisher).

Runbook 4, Scenario A: one corrupted artifact is purged and re-synced, after the manifest's signature and the
trusted copy verified it (step 4), nothing else in the cache touched. Runbook 5, Scenario A: an instance leak is
not fed a higher MemoryMax (memory_limit refuses it) and the restart forces the cleanup (both rungs in the
record). Runbook 1, left to people: a resolution failure rate above 5 % is diagnosed (the failed resolutions by
domain and key in the evidence), people paged, nothing changed.
"""

from __future__ import annotations

import pytest
from hosts import host_name, image_exists
from pack_stack import ONEIRIC_CACHE, answer, left_to_people, port, remediated, running_pack, unit_state

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
PORT = port("oneiric")  # the pack's oneiric_port
HOST = host_name("packs-oneiric")
UNIT = "oneiric.service"
UNITS = {"oneiric": {"demo_app_unit": "oneiric", "demo_app_profile": "oneiric",
                     "demo_app_config": {"port": PORT, "tick_seconds": 0.5}}}  # fmt: skip
INSTANCE = f'instance="{HOST}:{PORT}"'
CORRUPTED = "artifact-03.bin"
# The limit in force before the incident (an operator's): the runbook's target for 200 instances is 12G.
LIMIT = "/etc/systemd/system/oneiric.service.d/test-memory.conf"
IN_FORCE = 2 * 1024**3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_pack("oneiric", tmp_path_factory.mktemp("packs-oneiric"), HOST, UNITS) as running:
        yield running


def cache(stack) -> dict[str, str]:
    """Every file of the cache: its sha256, inode and modification time (what says whether it was touched)."""
    said = stack.host.sh(f"cd {ONEIRIC_CACHE} && for f in *; do echo \"$f $(sha256sum < $f | cut -c1-64) "
                         f"$(stat -c '%i %y' $f)\"; done").stdout  # fmt: skip
    return dict(line.split(" ", 1) for line in said.splitlines())


def digest(state: str) -> str:
    return state.split(" ", maxsplit=1)[0]


def manifest(stack) -> dict[str, str]:
    said = stack.host.sh(f"cat {ONEIRIC_CACHE}/manifest.sha256").stdout
    return {name: sha for sha, name in (line.split() for line in said.splitlines())}


def test_4_a_one_corrupted_artifact_is_purged_and_resynced_after_the_manifest_is_verified(stack):
    stack.begin()
    before, digests = cache(stack), manifest(stack)
    assert {n: digest(before[n]) for n in digests} == digests and len(digests) == 6, "the deploy's cache verifies"
    fetched = stack.publisher.fetched
    # a disk error: one byte of one artifact changed in place, the sync's digest check fails at every tick
    stack.host.sh(f"printf 'X' | dd of={ONEIRIC_CACHE}/{CORRUPTED} bs=1 seek=0 count=1 conv=notrunc status=none")
    assert digest(cache(stack)[CORRUPTED]) != digests[CORRUPTED]
    incident = stack.run_incident("OneiricDigestVerificationFailed")
    outcome = remediated(incident, [("cache_purge", True)])
    (rung,) = outcome["ladder"]
    assert rung["message"].startswith(f"1 artifacts of {ONEIRIC_CACHE} purged ({CORRUPTED}), re-synced: all 6"), rung
    trust = outcome["result"]["details"]["manifest_trust"]
    assert trust["ok"] is True and [c["method"] for c in trust["checks"]] == ["signature", "trusted_copy"], trust
    assert all(c["ok"] for c in trust["checks"]), "step 4: the Ed25519 signature verifies, the trusted copy matches"
    assert stack.publisher.fetched == fetched + 1, "the trusted copy was fetched by the controller"
    after = cache(stack)
    assert digest(after[CORRUPTED]) == digests[CORRUPTED], "the artifact's digest is the manifest's again"
    assert {n: s for n, s in after.items() if n != CORRUPTED} == {n: s for n, s in before.items() if n != CORRUPTED}, (
        "nothing else in the cache touched (sha256, inode, mtime): the manifest, its signature, the five others"
    )
    assert list(incident.folder.glob(f"{HOST}/cache.tar.gz")), "the cache archived as evidence before the purge"
    assert stack.prometheus.query(f'oneiric_remote_digest_checks_total{{outcome="failed",{INSTANCE}}} == 0'), (
        "verification 1: the digest failures stopped"
    )
    assert stack.prometheus.query(f"oneiric_remote_artifacts_cached{{{INSTANCE}}} == 6"), "every artifact verifies"
    assert stack.health(PORT)["status"] == "ready"


def test_5_a_an_instance_leak_is_not_given_more_memory_but_restarted(stack):
    stack.begin()
    stack.host.sh(f"mkdir -p {LIMIT.rsplit('/', 1)[0]} && printf '[Service]\\nMemoryMax=2G\\n' > {LIMIT} && "
                  "systemctl daemon-reload")  # fmt: skip
    try:
        before = unit_state(stack.host, UNIT)
        # 190 instances left by the leak so far (minutes of it, at once), and it goes on: no swap is cleaned up
        stack.faults(PORT, instances=190, instance_leak=True)
        incident = stack.run_incident("OneiricActiveInstancesExtremelyHigh")
        outcome = remediated(incident, [("memory_limit", False), ("restart", True)])
        first, second = outcome["ladder"]
        assert first["outcome"] == "refused" and first["message"].startswith("refused: a leak, not load"), first
        assert "restart the service to force the cleanup" in first["message"], "the leak's advice: scenario A step 2"
        assert second["message"].startswith(f"{UNIT} on {HOST}:"), second
        assert stack.host.unit("MemoryMax", unit=UNIT)["MemoryMax"] == str(IN_FORCE), "the limit is left as it is"
        assert unit_state(stack.host, UNIT)["MainPID"] != before["MainPID"], "emergency: restart to force cleanup"
        lifecycle = stack.health(PORT)["lifecycle"]
        assert lifecycle["active_instances"] < 100 and lifecycle["leaked_instances"] == 0, lifecycle
        assert stack.prometheus.query(f"oneiric:system_active_instances_total:5m{{{INSTANCE}}} < 100"), (
            "step 3 and verification 1: the instance count after the restart, below 100"
        )
    finally:
        stack.host.sh(f"rm -f {LIMIT} && systemctl daemon-reload")


def test_1_a_resolution_failure_rate_above_5_percent_is_left_to_people(stack):
    stack.begin()
    before, files = unit_state(stack.host, UNIT), cache(stack)
    stack.faults(PORT, error_rate=0.2)  # one resolution in five: "No candidate found for domain/key"
    try:
        incident = stack.run_incident("OneiricResolutionFailureRateHigh")
        diagnosis = left_to_people(incident)
        failed = answer(diagnosis, "failed_resolutions_by_domain_key")
        assert len(failed) == 3 and all(rate > 0 for rate in failed), "step 2: the failed resolutions by domain/key"
        (alert,) = [a for a in stack.active("OneiricResolutionFailureRateHigh") if a["status"]["state"] == "active"]
        assert alert["status"]["silencedBy"] == [], "the alert stays with people, silenced by nothing"
        assert unit_state(stack.host, UNIT) == before, "nothing restarted"
        assert cache(stack) == files, "nothing purged"
        assert stack.host.sh(f"ls /etc/systemd/system/{UNIT}.d 2>/dev/null || true").stdout == ""
    finally:  # what people do: the candidate registered again, the resolutions succeed
        stack.faults(PORT, error_rate=0.0)
    incident.wait_resolved()
