"""The Rust supervisor's pack (inventories/supervisor/, seed 002) end to end, with its own files: its rules.yml
(shortened), alertmanager.yml, remediate.yml and service description, with only the test overrides of
tests/support/pack_stack.py. The supervisor and its relay run as the demo's supervisor and relay profiles,
two units of one podman host (`packs-supervisor`).

P1-001: a crashed supervisor is restarted. P1-003: a dashboard IPC the relay's restart cannot mend is mended
by the supervisor's restart (both rungs in the record). P1-004, left to people: a stalled control loop is
diagnosed, people paged, nothing changed on the host.
"""

from __future__ import annotations

import pytest
from hosts import host_name, image_exists
from pack_stack import answer, left_to_people, port, remediated, running_pack, unit_state

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
PORT = port("supervisor")  # the pack's supervisor_port
HOST = host_name("packs-supervisor")
RELAY = 8103
UNITS = {  # deploy.yml host vars: the relay first (the supervisor wants it)
    "relay": {"demo_app_unit": "relay", "demo_app_profile": "relay",
              "demo_app_config": {"port": RELAY, "tick_seconds": 0.5}},
    "supervisor": {"demo_app_unit": "supervisor", "demo_app_profile": "supervisor",
                   "demo_app_unit_wants": ["relay.service"],
                   "demo_app_config": {"port": PORT, "tick_seconds": 0.5,
                                       "relay_url": f"http://127.0.0.1:{RELAY}/ping"}},
}  # fmt: skip
INSTANCE = f'instance="{HOST}:{PORT}"'
NO_RESTART = "/etc/systemd/system/supervisor.service.d/test-no-restart.conf"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_pack("supervisor", tmp_path_factory.mktemp("packs-supervisor"), HOST, UNITS) as running:
        yield running


def test_p1_001_a_crashed_supervisor_is_restarted(stack):
    stack.begin()
    relay = unit_state(stack.host, "relay.service")
    stack.host.sh(
        f"mkdir -p {NO_RESTART.rsplit('/', 1)[0]} && printf '[Service]\\nRestart=no\\n' > {NO_RESTART} && "
        "systemctl daemon-reload && systemctl kill --signal=SIGKILL supervisor.service"
    )
    try:
        incident = stack.run_incident("SupervisorCrashed")
        remediated(incident, [("restart", True)])
        assert unit_state(stack.host, "supervisor.service")["ActiveState"] == "active"
        assert unit_state(stack.host, "relay.service")["MainPID"] == relay["MainPID"], "the relay was not touched"
        assert stack.health(PORT)["status"] == "ready" and stack.health(PORT)["dashboard_link"] == "connected"
        assert stack.prometheus.query(f"supervisor_dashboard_link_connected{{{INSTANCE}}} == 1")
        assert "SIGKILL" in (incident.folder / HOST / "diagnose" / "logs.txt").read_text(), "step 2: the journal"
    finally:
        stack.host.sh(f"rm -f {NO_RESTART} && systemctl daemon-reload")


def test_p1_003_a_wedged_dashboard_ipc_is_mended_by_the_supervisor_restart_after_the_relay_restart(stack):
    stack.begin()
    relay, supervisor = unit_state(stack.host, "relay.service"), unit_state(stack.host, "supervisor.service")
    stack.faults(PORT, dashboard_ipc_wedged=True)  # the relay is fine: the IPC is the supervisor's
    incident = stack.run_incident("SupervisorDashboardDisconnected")
    outcome = remediated(incident, [("restart", False), ("restart", True)])
    first, second = outcome["ladder"]
    assert first["message"].startswith(f"relay.service on {HOST} was restarted but is not healthy"), first
    assert second["message"].startswith(f"supervisor.service on {HOST}:"), second
    assert unit_state(stack.host, "relay.service")["MainPID"] != relay["MainPID"], "step 3: the relay restarted"
    assert unit_state(stack.host, "supervisor.service")["MainPID"] != supervisor["MainPID"], "step 4: the supervisor"
    assert stack.health(PORT)["dashboard_link"] == "connected"
    assert stack.prometheus.query(f"supervisor_dashboard_link_connected{{{INSTANCE}}} == 1")


def test_p1_004_a_stalled_control_loop_is_left_to_people(stack):
    stack.begin()
    units = {unit: unit_state(stack.host, unit) for unit in ("relay.service", "supervisor.service")}
    stack.faults(PORT, control_loop_stall=True)
    try:
        incident = stack.run_incident("SupervisorRuntimeStarvation")
        diagnosis = left_to_people(incident)
        assert answer(diagnosis, "control_loop_iterations_per_sec") == [0.0], "step 1's reading is in the evidence"
        (alert,) = [a for a in stack.active("SupervisorRuntimeStarvation") if a["status"]["state"] == "active"]
        assert alert["status"]["silencedBy"] == [], "the alert stays with people, silenced by nothing"
        assert {unit: unit_state(stack.host, unit) for unit in units} == units, "nothing restarted"
        assert stack.host.sh("ls /etc/systemd/system/supervisor.service.d 2>/dev/null || true").stdout == ""
        assert stack.health(PORT)["iterations_per_sec"] == 0, "still stalled: quarantining the child is people's"
    finally:  # what a person does: the blocking child quarantined, the loop runs again
        stack.faults(PORT, control_loop_stall=False)
    incident.wait_resolved()
