"""Genesis's pack (inventories/genesis/, seed 003) end to end, with its own files: its rules.yml (shortened),
alertmanager.yml, remediate.yml and service description, with only the test overrides of
tests/support/pack_stack.py. Genesis runs as the demo's genesis profile, unit genesis-orchestration, from a git
working tree (origin, deployment-stable at 1.0.0) with scripts/health_check.sh, on one podman host
(`packs-genesis`).

HighErrorRate, Scenario A (LLM API errors): the LLM turned off, heuristics on, by the config change, mitigated
and confirmed at the end of the "wait 10 minutes" window. TestPassRateLow, left to people: diagnosed, people
paged, nothing changed. GenesisServiceDown after a bad deploy: the restart does not bring it up, the rollback
to origin/deployment-stable does (both rungs in the record).
"""

from __future__ import annotations

import pytest
from hosts import host_name, image_exists
from pack_stack import GENESIS, answer, left_to_people, port, remediated, running_pack, unit_state

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
PORT = port("genesis")  # the pack's genesis_port
HOST = host_name("packs-genesis")
UNIT = "genesis-orchestration.service"
CONFIG = "/etc/genesis-orchestration/config.yml"
TREE = f"{GENESIS}/tree"
GIT = f"git -c safe.directory='*' -C {TREE}"
UNITS = {  # 1.0.0 deployed and deployment-stable; 1.1.0, a release that exits at start, committed and tagged
    "genesis": {"demo_app_unit": "genesis-orchestration", "demo_app_profile": "genesis", "demo_app_deployment": "git",
                "demo_app_releases": [{"version": "1.0.0"}, {"version": "1.1.0", "faults": {"crash_at_start": True}}],
                "demo_app_current": "1.0.0", "demo_app_config": {"port": PORT, "tick_seconds": 0.5}},
}  # fmt: skip
INSTANCE = f'instance="{HOST}:{PORT}"'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_pack("genesis", tmp_path_factory.mktemp("packs-genesis"), HOST, UNITS) as running:
        yield running


def commit(stack, ref: str) -> str:
    return stack.host.sh(f"{GIT} rev-parse {ref}^{{commit}}").stdout.strip()


def test_llm_api_errors_are_ended_by_turning_the_llm_off(stack):
    stack.begin()
    before = unit_state(stack.host, UNIT)
    # the LLM API rate limits one call in five, and keeps doing so (in the config: a restart alone does not end it)
    stack.host.sh(f"printf 'faults:\\n  llm_error_rate: 0.2\\n' >> {CONFIG}")
    stack.faults(PORT, llm_error_rate=0.2)
    incident = stack.run_incident("HighErrorRate")
    remediated(incident, [("config_change", True)])
    assert stack.health(PORT)["llm"] == {"enabled": False, "fallback_mode": "heuristic"}, "Scenario A step 2"
    config = stack.host.sh(f"cat {CONFIG}").stdout
    assert "llm_error_rate: 0.2" in config, "the LLM API still fails: the config change is what ended the errors"
    assert unit_state(stack.host, UNIT)["MainPID"] != before["MainPID"], "step 3: the service restarted"
    assert stack.prometheus.query(f"genesis:error_ratio:rate5m{{{INSTANCE}}} < 0.001"), "the SLO holds"


def test_a_low_test_pass_rate_is_left_to_people(stack):
    stack.begin()
    before = unit_state(stack.host, UNIT)
    files = stack.host.sh(f"sha256sum {CONFIG} && {GIT} rev-parse HEAD && {GIT} status --porcelain").stdout
    stack.faults(PORT, test_pass_rate=0.9)
    try:
        incident = stack.run_incident("TestPassRateLow")
        diagnosis = left_to_people(incident)
        assert answer(diagnosis, "test_pass_rate") == [0.9], "Grafana panel 1's reading is in the evidence"
        (alert,) = [a for a in stack.active("TestPassRateLow") if a["status"]["state"] == "active"]
        assert alert["status"]["silencedBy"] == [], "the alert stays with people, silenced by nothing"
        assert unit_state(stack.host, UNIT) == before, "nothing restarted"
        assert stack.host.sh(f"sha256sum {CONFIG} && {GIT} rev-parse HEAD && {GIT} status --porcelain").stdout == files
    finally:  # what people do: the suite fixed (a retry, a hotfix), the pass rate back
        stack.faults(PORT, test_pass_rate=1.0)
    incident.wait_resolved()


def test_genesis_down_after_a_bad_deploy_is_restarted_then_rolled_back_to_deployment_stable(stack):
    stack.begin()
    good, bad = commit(stack, "v1.0.0"), commit(stack, "v1.1.0")
    assert commit(stack, "origin/deployment-stable") == good and commit(stack, "HEAD") == good
    # a deploy of 1.1.0 into the working tree, as the service's account owns it: it exits at every start
    stack.host.sh(f"{GIT} reset -q --hard v1.1.0 && chown -R demo-app:demo-app {TREE} && systemctl restart {UNIT}")
    incident = stack.run_incident("GenesisServiceDown")
    outcome = remediated(incident, [("restart", False), ("rollback", True)])
    assert commit(stack, "HEAD") == good, "reset to origin/deployment-stable"
    version = outcome["version"]
    assert (version["before"], version["after"], version["changed"]) == (bad, good, True), version
    assert stack.host.sh(f"{GIT} status --porcelain").stdout == "", "git clean -fd"
    checked = stack.host.sh(f"{GENESIS}/scripts/health_check.sh", check=False)
    assert checked.returncode == 0, "Verification 3: ./scripts/health_check.sh exits 0"
    restored = stack.health(PORT)
    assert restored["version"] == "1.0.0" and restored["llm"]["enabled"] is True, "the config restored"
    assert stack.prometheus.query(f'genesis_build_info{{{INSTANCE},version="1.0.0"}}'), "Prometheus sees 1.0.0"
