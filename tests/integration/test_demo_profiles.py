"""The demo service's profiles as real systemd units on one podman host (docs/demo-service.md, "Profiles").

The four systems of the runbooks deployed by tests/fixtures/demo_app/deploy.yml in one run, each its own
unit with its own paths and port: oneiric, omniroute (its SQLite audit log under /var/lib/omniroute), the
supervisor and the relay it depends on (seed 002), and genesis-orchestration from a git working tree with
scripts/health_check.sh (seed 003). Each unit serves its system's /metrics and health; the supervisor's
dashboard link follows the relay's unit, and a wedged link needs the supervisor restarted, not the relay.
One podman host, profiles-host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from hosts import ROOT, PodmanHost, host_name, image_exists, playbook
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("profiles-host")
RELAY = 8103
UNITS = {  # inventory name: (unit, profile, port, config); genesis first: the releases are built from its list
    "genesis": ("genesis-orchestration", "genesis", 8105, {}),
    "oneiric": ("oneiric", "oneiric", 8101, {}),
    "omniroute": ("omniroute", "omniroute", 8102, {"data_dir": "/var/lib/omniroute"}),
    "relay": ("relay", "relay", RELAY, {}),
    "supervisor": ("supervisor", "supervisor", 8104, {"relay_url": f"http://127.0.0.1:{RELAY}/ping"}),
}
METRICS = {  # names each system's pack reads (inventories/<system>/prometheus/rules.yml)
    "oneiric": ["oneiric_resolution_total{", "oneiric_lifecycle_swap_total{", "oneiric_lifecycle_active_instances{",
                "oneiric_remote_sync_total{", 'oneiric_remote_digest_checks_total{outcome="success"}'],
    "omniroute": ['omniroute_http_requests_total{route="/v1/responses",method="POST",code="200"}',
                  "omniroute_http_request_duration_seconds_bucket{", "omniroute_provider_requests_total{",
                  "omniroute_db_integrity_ok 1"],
    "relay": ['relay_pings_total{outcome="success"}'],
    "supervisor": ["supervisor_dashboard_link_connected 1", "supervisor_control_loop_iterations_total ",
                   "supervisor_child_restarts_total{", "supervisor_children_failed 0", "supervisor_uptime_seconds "],
    "genesis": ["genesis_errors_total{", "genesis_operation_duration_seconds_bucket{", "genesis_test_pass_rate 1",
                'genesis_operations_total{outcome="success"}'],
}  # fmt: skip
TREE = "/opt/genesis-orchestration/tree"


def inventory(folder: Path) -> Path:
    """Five inventory hosts, one per unit, all the one container (ansible_host), with their own host vars."""
    podman = {"ansible_connection": "containers.podman.podman", "ansible_host": HOST,
              "ansible_python_interpreter": "/usr/bin/python3"}  # fmt: skip
    hosts = {
        name: {**podman, "demo_app_unit": unit, "demo_app_profile": profile,
               "demo_app_releases": [{"version": "1.1.0"}],
               "demo_app_config": {"port": port, "tick_seconds": 0.5, **config}}
        for name, (unit, profile, port, config) in UNITS.items()
    }  # fmt: skip
    hosts["supervisor"]["demo_app_unit_wants"] = ["relay.service"]
    # genesis from git: 1.0.0 on deployment-stable, the tree at 1.1.0 (the others but omniroute unpack 1.1.0 only)
    both = [{"version": "1.0.0"}, {"version": "1.1.0"}]
    hosts["genesis"].update(demo_app_deployment="git", demo_app_releases=both)
    hosts["omniroute"]["demo_app_releases"] = both  # its bin/rollback.sh has a release to go back to
    folder.mkdir(parents=True, exist_ok=True)
    tree = {"all": {"hosts": hosts}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(tree, sort_keys=False))
    return folder / "hosts.yml"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    server = PodmanHost(HOST, free_port())
    try:
        server.start()
        # the account every unit runs as, made once: five deploys at once would each add it
        server.sh("useradd --system --no-create-home --shell /usr/sbin/nologin demo-app")
        done = playbook(inventory(tmp_path_factory.mktemp("profiles")),
                        str(ROOT / "tests" / "fixtures" / "demo_app" / "deploy.yml"))  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        yield server
    finally:
        server.stop()


def get(server: PodmanHost, port: int, path: str) -> str:
    return server.sh(f"curl -s -m 3 http://127.0.0.1:{port}{path}", check=False).stdout


def health(server: PodmanHost, port: int) -> dict:
    try:
        return json.loads(get(server, port, "/health"))
    except ValueError:
        return {}


def wait_link(server: PodmanHost, state: str, timeout: float = 8) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = health(server, UNITS["supervisor"][2])
        if answer.get("dashboard_link") == state or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


def test_each_profile_is_a_systemd_unit_serving_its_systems_metrics_and_health(host):
    server = host
    for name, (unit, profile, port, _) in UNITS.items():
        shown = server.sh(f"systemctl show {unit}.service -p ActiveState,MainPID,FragmentPath").stdout
        assert "ActiveState=active" in shown, (unit, shown)
        answer = health(server, port)
        assert answer.get("status") == "ready", (unit, answer)
        text = get(server, port, "/metrics")
        missing = [metric for metric in METRICS[name] if metric not in text]
        assert missing == [], (unit, missing)
        assert 'demo_app_info{version="1.1.0"} 1' in text, "the generic metrics stay beside the system's"
        config = server.sh(f"cat /etc/{unit}/config.yml").stdout
        assert f"profile: {profile}" in config and f"/var/cache/{unit}" in config, config
    oneiric = health(server, 8101)
    assert oneiric["remote"]["last_sync_outcome"] == "success" and oneiric["lifecycle"]["active_instances"] == 1
    omniroute = health(server, 8102)
    assert omniroute["database"]["state"] == "ok" and omniroute["database"]["audit_rows"] > 0, omniroute
    assert json.loads(get(server, 8102, "/api/health/ping")) == {"status": "ok"}
    assert json.loads(get(server, 8102, "/api/system/version"))["version"] == "1.1.0"
    assert json.loads(get(server, 8102, "/api/providers/openai"))["isActive"] is True
    genesis = health(server, 8105)
    assert (genesis["circuit_breaker"], genesis["llm"]["enabled"]) == ("closed", True)


def test_the_relay_is_its_own_unit_named_relay_and_the_supervisor_wants_it(host):
    server = host
    relay_pid = server.sh("systemctl show relay.service -p MainPID --value").stdout.strip()
    assert server.sh("pgrep -x relay").stdout.split() == [relay_pid], "seed 002 P1-003 step 2: pgrep -x relay"
    unit = server.sh("systemctl show supervisor.service -p Wants,After").stdout
    assert "relay.service" in unit.split("\n")[0] and "relay.service" in unit, unit
    supervisor = wait_link(server, "connected")
    assert supervisor["dashboard_link"] == "connected" and supervisor["control_loop_iterations"] > 0, supervisor
    assert supervisor["children"] == {"running": 3, "failed": 0, "target_count": 3}


def test_dashboard_disconnected_is_mended_by_the_relay_restart_or_else_by_the_supervisor_restart(host):
    """Seed 002 P1-003 on real units: the relay down -> its restart mends the link; a wedged IPC -> it does not,
    the supervisor's restart does."""
    server = host
    port = UNITS["supervisor"][2]
    assert wait_link(server, "connected")["dashboard_link"] == "connected"
    server.sh("systemctl stop relay.service")
    assert wait_link(server, "disconnected")["dashboard_link"] == "disconnected"
    assert "supervisor_dashboard_link_connected 0" in get(server, port, "/metrics")
    server.sh("systemctl restart relay.service")
    assert wait_link(server, "connected")["dashboard_link"] == "connected", "the relay's restart mends it"

    server.sh(f"curl -s -m 3 -X POST -d '{{\"dashboard_ipc_wedged\": true}}' http://127.0.0.1:{port}/control/faults")
    assert wait_link(server, "disconnected")["dashboard_link"] == "disconnected"
    server.sh("systemctl restart relay.service")
    time.sleep(1.5)
    assert health(server, port)["dashboard_link"] == "disconnected", "the relay's restart does not mend a wedged IPC"
    server.sh("systemctl restart supervisor.service")
    assert wait_link(server, "connected")["dashboard_link"] == "connected", "the supervisor's restart does"


def test_genesis_runs_from_a_git_working_tree_with_its_health_check_script(host):
    server = host
    git = f"git -c safe.directory='*' -C {TREE}"
    assert server.sh("readlink /opt/genesis-orchestration/current").stdout.strip() == TREE
    head = server.sh(f"{git} rev-parse HEAD").stdout.strip()
    assert head == server.sh(f"{git} rev-parse v1.1.0^{{commit}}").stdout.strip()
    stable = server.sh(f"{git} rev-parse origin/deployment-stable").stdout.strip()
    assert stable == server.sh(f"{git} rev-parse v1.0.0^{{commit}}").stdout.strip() != head
    assert server.sh(f"{git} status --porcelain").stdout == "" and "demo-app" in server.sh(f"stat -c %U {TREE}").stdout
    checked = server.sh("/opt/genesis-orchestration/scripts/health_check.sh", check=False)
    assert checked.returncode == 0 and json.loads(checked.stdout)["status"] == "ready", checked
    again = server.sh("/opt/genesis-orchestration/git_deploy.sh /opt/genesis-orchestration 1.0.0 1.1.0 1.0.0 1.1.0")
    assert again.stdout.strip() == "unchanged" and server.sh(f"{git} rev-parse HEAD").stdout.strip() == head
    server.sh("systemctl stop genesis-orchestration.service")
    stopped = server.sh("/opt/genesis-orchestration/scripts/health_check.sh", check=False)
    assert stopped.returncode == 1 and stopped.stdout.startswith("health check:"), stopped
    server.sh("systemctl start genesis-orchestration.service")


def test_omniroute_rolls_back_with_its_script_and_snapshots_its_database(host):
    """The omniroute pack's rollback_command (bin/rollback.sh VERSION) and snapshot_command (bin/snapshot-data.sh)."""
    server = host
    refused = server.sh("/opt/omniroute/bin/rollback.sh 9.9.9", check=False)
    assert refused.returncode == 2 and "no release 9.9.9" in refused.stderr, refused
    assert server.sh("readlink /opt/omniroute/current").stdout.strip() == "releases/1.1.0", "nothing changed"
    snapshot = server.sh("/opt/omniroute/bin/snapshot-data.sh").stdout.strip()
    check = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
    assert server.sh(f'python3 -c "{check}" {snapshot}').stdout.strip() == "ok", snapshot
    assert server.sh("/opt/omniroute/bin/rollback.sh v1.0.0").stdout.strip() == "rolled back to 1.0.0"
    deadline = time.monotonic() + 15
    while health(server, 8102).get("version") != "1.0.0" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert json.loads(get(server, 8102, "/api/system/version"))["version"] == "1.0.0"
    server.sh("/opt/omniroute/bin/rollback.sh 1.1.0")  # back as deployed, for the tests after this one
    deadline = time.monotonic() + 15
    while health(server, 8102).get("version") != "1.1.0" and time.monotonic() < deadline:
        time.sleep(0.25)
