"""OmniRoute's pack (inventories/omniroute/, seed 001) end to end, with its own files: its rules.yml (shortened),
alertmanager.yml, remediate.yml (one route per provider) and service description, with only the test overrides
of tests/support/pack_stack.py. OmniRoute runs as the demo's omniroute profile on its pack's port 3000, with its
bin/rollback.sh, on one podman host (`packs-omniroute`).

4.1: a provider down (openai) is disabled by PUT /api/providers/openai {"isActive": false}, and p95 is back
within its 1.5 s budget. § 1 and 0:12: a bad deploy burning the error budget 6x is rolled back to the last
green deploy (bin/rollback.sh, the version recorded good as the pack's doc says). Left to people: a provider
that no route of the receiver names (mistral) is diagnosed only, nothing changed.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hosts import ROOT, ansible_env, host_name, image_exists
from pack_stack import left_to_people, port, remediated, running_pack, unit_state

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
PORT = port("omniroute")  # the pack's omniroute_port: its receiver routes name http://127.0.0.1:3000/api/providers/
HOST = host_name("packs-omniroute")
UNIT = "omniroute.service"
PROVIDERS = {"openai": {"active": True}, "anthropic": {"active": True}, "mistral": {"active": True}}
UNITS = {  # 1.0.0 deployed (the last green deploy); 1.1.0, a release answering half its requests 500
    "omniroute": {"demo_app_unit": "omniroute", "demo_app_profile": "omniroute",
                  "demo_app_releases": [{"version": "1.0.0"}, {"version": "1.1.0", "faults": {"error_rate": 0.5}}],
                  "demo_app_current": "1.0.0",
                  "demo_app_config": {"port": PORT, "tick_seconds": 0.5, "data_dir": "/var/lib/omniroute",
                                      "providers": PROVIDERS}},
}  # fmt: skip
INSTANCE = f'instance="{HOST}:{PORT}"'
P95 = f"omniroute:v1_request_duration_seconds:p95_rate5m{{{INSTANCE}}}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_pack("omniroute", tmp_path_factory.mktemp("packs-omniroute"), HOST, UNITS) as running:
        yield running


def get(stack, path: str) -> dict:
    said = stack.host.sh(f"curl -s -m 3 http://127.0.0.1:{PORT}{path}", check=False).stdout
    return json.loads(said) if said.startswith("{") else {}


def test_4_1_a_provider_down_is_disabled_and_p95_is_back_within_budget(stack):
    stack.begin()
    before = unit_state(stack.host, UNIT)
    stack.faults(PORT, provider_down="openai", provider_timeout_ms=2000)  # each call to it waits 2 s, then fails
    stack.wait_firing("OmniRouteProviderDown")
    assert float(stack.prometheus.wait_for(f"{P95} > 1.5")[0]["value"][1]) > 1.5, "p95 over its 1.5 s budget"
    incident = stack.run_incident("OmniRouteProviderDown")
    remediated(incident, [("config_change", True)])
    assert get(stack, "/api/providers/openai")["isActive"] is False, "step 1: PUT {isActive: false}"
    assert [get(stack, f"/api/providers/{p}")["isActive"] for p in ("anthropic", "mistral")] == [True, True]
    assert stack.prometheus.query(f"{P95} < 1.5"), "step 2: p95 back within budget"
    assert unit_state(stack.host, UNIT)["MainPID"] == before["MainPID"], "applied by the API: nothing restarted"


def test_a_provider_no_route_names_is_left_to_people(stack):
    stack.begin()
    before = unit_state(stack.host, UNIT)
    stack.faults(PORT, provider_down="mistral", provider_timeout_ms=300)
    try:
        incident = stack.run_incident("OmniRouteProviderDown")
        left_to_people(incident, reason="diagnose only, as asked")  # the route for a provider none names
        assert incident.job["route"] == "omniroute-provider-down-unknown", incident.job
        (alert,) = [a for a in stack.active("OmniRouteProviderDown") if a["status"]["state"] == "active"]
        assert alert["labels"]["provider"] == "mistral" and alert["status"]["silencedBy"] == [], alert
        assert get(stack, "/api/providers/mistral")["isActive"] is True, "nothing disabled"
        assert unit_state(stack.host, UNIT) == before, "nothing restarted"
    finally:  # what people do: the provider answers again
        stack.faults(PORT, provider_down="")
    incident.wait_resolved()


def test_a_bad_deploy_burning_the_error_budget_is_rolled_back_to_the_last_green_deploy(stack):
    stack.begin()
    # the pack's "Adopt the pack" step 4, as written: the pipeline records its green deploy on the replica
    recorded = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible"), "-i", str(stack.inventory), HOST, "-m",
         "incident.remediation.rollback_command",
         "-a", "unit=omniroute.service command=/opt/omniroute/bin/rollback.sh state=good version=1.0.0"],
        env=ansible_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    stack.host.sh("/opt/omniroute/bin/rollback.sh 1.1.0")  # the deploy of 1.1.0 (the script switches and restarts)
    incident = stack.run_incident("OmniRouteErrorBudgetBurnFast")
    outcome = remediated(incident, [("rollback", True)])
    assert get(stack, "/api/system/version")["version"] == "1.0.0", "0:12: the last green deploy"
    assert stack.host.sh("readlink /opt/omniroute/current").stdout.strip() == "releases/1.0.0"
    assert (outcome["version"]["before"], outcome["version"]["after"]) == ("1.1.0", "1.0.0"), outcome["version"]
    assert stack.prometheus.query(f"omniroute:slo_burn_rate:1m{{{INSTANCE}}} < 1"), "no more 5xx"
