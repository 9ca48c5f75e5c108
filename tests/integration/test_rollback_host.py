"""The rollback playbook (incident.remediation.rollback) on a real systemd host, where a deploy broke things.

A deploy that died half way leaves ``current`` pointing at a release directory that is not there: that
release is the bad one, and the service comes back on the newest good release. A config holding secrets
(mode 0640, group of the service) keeps its owner, group and mode through the rollback and through the
switch back when the release rolled back to is broken too. The role run on its own hands back its one
result, rollback_result (docs/mitigation-contract.md): fixed, unchanged or failed, with what it proved.
One podman host, remediation-it-rollback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hosts import PodmanHost, deploy, deployed_host, host_name, image_exists, playbook, write_inventory
from monitoring import free_port
from role_runs import REQUIRED, run_role

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-rollback")
CONFIG = "/etc/demo-app/config.yml"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("rollback")
    with deployed_host(HOST, work / "deploy", free_port()) as (server, inventory):
        yield server, inventory, work


def redeploy(host, releases: list[dict], **extra) -> None:
    server, inventory, _ = host
    server.sh("rm -rf /opt/demo-app/releases /var/lib/incident-remediation; systemctl reset-failed demo-app.service")
    deploy(inventory, HOST, {"demo_app_releases": releases, "demo_app_wait_ready": False, **extra})


def rollback(host, name: str, **extra) -> tuple[int, dict | None, str]:
    """ansible-playbook incident.remediation.rollback -e service=demo-app, as an operator runs it."""
    _, _, work = host
    incidents = work / name
    variables = {"incident_id": f"RB-{name}", "incident_evidence_dir": str(incidents), **extra}
    done = playbook(write_inventory(work / f"{name}-inventory", [HOST], {}), "incident.remediation.rollback",
                    "--limit", HOST, "-e", "service=demo-app", "-e", json.dumps(variables),
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    path = Path(incidents) / f"RB-{name}" / "timeline.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    outcome = next((e["data"] for e in events if e["event"] == "outcome"), None)
    return done.returncode, outcome, done.stdout + done.stderr


def rollback_role(host, name: str, **extra) -> tuple[int, dict | None, list[dict]]:
    """The rollback role on its own, as the restart's escalation runs it: (rc, rollback_result, tasks run)."""
    _, inventory, work = host
    folder = work / f"role-{name}"
    folder.mkdir()
    variables = {**REQUIRED["rollback"], "rollback_config_path": CONFIG,
                 "rollback_health_url": "http://127.0.0.1:8080/health", **extra}  # fmt: skip
    rc, ran = run_role(folder, "rollback", variables, inventory=inventory, host=HOST)
    handed = [task["mitigation_result"] for task in ran if "mitigation_result" in task]
    return rc, (handed[-1] if handed else None), ran


def secret_config(server: PodmanHost) -> str:
    """The config as an operator keeps one holding credentials: root:demo-app 0640. Its stat line."""
    server.sh(f"chown root:demo-app {CONFIG} && chmod 0640 {CONFIG}")
    return stat(server, CONFIG)


def stat(server: PodmanHost, path: str) -> str:
    return server.sh(f"stat -L -c '%U:%G %a' {path}").stdout.strip()  # of the file a link points at


def deployment(server: PodmanHost) -> tuple[str, dict]:
    """What a rollback changes: current, the config's digest, the unit's main PID."""
    return server.sh(f"readlink /opt/demo-app/current; sha256sum {CONFIG}").stdout, server.unit("MainPID")


def wait_down(server: PodmanHost) -> None:
    server.sh("for i in $(seq 30); do systemctl is-active -q demo-app.service || exit 0; sleep 0.5; done; exit 1")


def test_a_current_left_dangling_by_a_deploy_is_rolled_back_to_the_newest_good_release(host):
    """Issue 21, item 4: current -> releases/2.0.0, which a deploy that died half way never wrote."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0"}, {"version": "1.1.0"}, {"version": "2.0.0"}])
    server.sh("rm -rf /opt/demo-app/releases/2.0.0 && systemctl restart demo-app.service", check=False)
    wait_down(server)
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/2.0.0"
    assert server.health() is None, "the service is down on the missing release"
    rc, outcome, output = rollback(host, "dangling")
    assert rc == 0 and outcome and outcome["status"] == "resolved", output[-4000:]
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.1.0"
    assert (server.health() or {}).get("version") == "1.1.0"
    assert server.sh("test -e /opt/demo-app/releases/2.0.0", check=False).returncode != 0, "nothing made for 2.0.0"
    assert server.sh("ls /opt/demo-app/releases/*/.incident-remediation-bad", check=False).stdout == ""
    action = outcome["result"]["details"]  # the rollback's own result (docs/mitigation-contract.md)
    assert (action["from"], action["to"]) == ("2.0.0", "1.1.0"), action
    assert action["bad_release"]["bad_release"] == "2.0.0" and action["bad_release"]["bad_release_missing"], action
    kept = action["bad_release"]["config_rolled_away"]
    assert "releases/2.0.0/" not in kept and server.sh(f"cat {kept}").stdout, "the config rolled away is kept"


def test_the_restored_config_keeps_the_owner_group_and_mode_of_the_one_replaced(host):
    """Issue 21, item 19: a config holding secrets is not made world-readable by the rollback."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0", "config": {"log_level": "info"}},
                    {"version": "1.1.0", "faults": {"never_ready": True}}],
             demo_app_config={"log_level": "debug"})  # fmt: skip
    assert secret_config(server) == "root:demo-app 640"
    rc, outcome, output = rollback(host, "mode")
    assert rc == 0 and outcome and outcome["status"] == "resolved", output[-4000:]
    assert "log_level: info" in server.sh(f"cat {CONFIG}").stdout, "the config of 1.0.0 is restored"
    assert stat(server, CONFIG) == "root:demo-app 640"
    assert server.health()["status"] == "ready", "the service reads it through its group"
    assert stat(server, "/opt/demo-app/releases/1.1.0/config.rolled-back.yml") == "root:root 600"


def test_the_config_put_back_after_a_broken_target_keeps_its_owner_group_and_mode(host):
    """Both releases broken: the switch back restores the config the run started from, as it was."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0", "faults": {"never_ready": True}, "config": {"log_level": "warning"}},
                    {"version": "1.1.0", "faults": {"crash_at_start": True}}])  # fmt: skip
    before = secret_config(server), server.sh(f"sha256sum {CONFIG}").stdout
    rc, outcome, output = rollback(host, "restore-mode", rollback_health_timeout=6)
    assert rc != 0 and outcome and outcome["status"] == "failed", output[-4000:]
    assert "Switched back to 1.1.0 with its config" in outcome["reason"], outcome["reason"]
    assert (stat(server, CONFIG), server.sh(f"sha256sum {CONFIG}").stdout) == before


def test_a_dangling_current_whose_target_is_broken_too_is_not_switched_back_to_nothing(host):
    """No release to go back to: the run fails saying so, current stays on the release tried."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0", "faults": {"never_ready": True}}, {"version": "2.0.0"}])
    server.sh("rm -rf /opt/demo-app/releases/2.0.0 && systemctl restart demo-app.service", check=False)
    wait_down(server)
    rc, outcome, output = rollback(host, "dangling-broken", rollback_health_timeout=6)
    assert rc != 0 and outcome and outcome["status"] == "failed", output[-4000:]
    assert "2.0.0, which does not exist" in outcome["reason"], outcome["reason"]
    assert "Not switching back" in outcome["reason"], outcome["reason"]
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.0.0"
    assert server.sh("test -e /opt/demo-app/releases/2.0.0", check=False).returncode != 0


def test_a_config_that_is_a_symlink_gets_the_mode_of_the_file_it_points_at_not_of_the_link(host):
    """A symlink's own mode is 0777: copying it onto the restored config would make it world-writable."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0", "config": {"log_level": "info"}},
                    {"version": "1.1.0", "faults": {"never_ready": True}}])  # fmt: skip
    server.sh(f"mv {CONFIG} /etc/demo-app/live.yml && ln -s live.yml {CONFIG}")
    assert secret_config(server) == "root:demo-app 640", "chown and chmod act on the file the link points at"
    rc, outcome, output = rollback(host, "symlink")
    assert rc == 0 and outcome and outcome["status"] == "resolved", output[-4000:]
    assert "log_level: info" in server.sh(f"cat {CONFIG}").stdout
    assert stat(server, CONFIG) == "root:demo-app 640"


HEALTH_CHECK = "/opt/demo-app/scripts/health_check.sh"  # seed 003's scripts/health_check.sh: exit 0 when ready


def test_the_role_hands_back_its_result_a_fix_then_a_no_op(host):
    """rollback_result: fixed with the bad release, the evidence and the health proved; run again, unchanged.
    Then judged by a health command, not the URL (issue 24, seed 003's scripts/health_check.sh), on the same deploy."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0"}, {"version": "1.1.0"}, {"version": "2.0.0"}], demo_app_health_script=True)
    server.sh("rm -rf /opt/demo-app/releases/2.0.0 && systemctl restart demo-app.service", check=False)
    wait_down(server)
    rc, result, ran = rollback_role(host, "fix")
    assert rc == 0 and result, ran[-3:]
    assert (result["mitigation"], result["outcome"], result["changed"]) == ("rollback", "fixed", True), result
    assert result["message"].startswith("rolled back and healthy: demo-app.service on"), result["message"]
    details = result["details"]
    assert (details["from"], details["to"], details["config_restored"]) == ("2.0.0", "1.1.0", True), details
    # down before: systemd may already be starting the missing release again, so its health says it, not its state
    assert details["bad_release"]["bad_release_missing"] and isinstance(details["before"]["health"], str), details
    assert result["evidence"] == ["/opt/demo-app/config.rolled-back-from-2.0.0.yml"], result["evidence"]
    assert server.sh(f"cat {result['evidence'][0]}").stdout, "the evidence named is on the host"
    (health,) = result["verified"]
    assert health["kind"] == "health" and '"version": "1.1.0"' in health["result"], health
    assert [step["step"] for step in result["steps"]] == ["preflight", "switch", "verify"], result["steps"]
    assert all(step["seconds"] >= 0 for step in result["steps"][1:]), result["steps"]

    before = deployment(server)
    rc, again, ran = rollback_role(host, "no-op")
    assert rc == 0 and again, ran[-3:]
    assert (again["outcome"], again["changed"]) == ("unchanged", False), again
    assert "healthy, nothing to do" in again["message"], again["message"]
    assert [task["task"] for task in ran if task.get("changed")] == [], "a no-op run changes nothing"
    assert deployment(server) == before

    # Health by the service's command alone (Genesis: no field of a URL). One that exits 1 judges 1.1.0 unhealthy
    # and the rollback to 1.0.0 unhealthy too, however active its unit and ready its /health: switched back to
    # 1.1.0, as the runbook's rollback_deployment.sh stops at its health check. Judged by health_check.sh, which
    # exits 0 once 1.0.0 is ready, a rollback to it is kept and the command named as its proof.
    by_command = {"rollback_health_url": "", "rollback_config_path": "", "rollback_health_command_timeout": 5}
    rc, failed, ran = rollback_role(host, "command-fails", rollback_health_command=["/bin/false"],
                                    rollback_health_timeout=2, **by_command)  # fmt: skip
    assert rc != 0 and failed, ran[-3:]
    assert (failed["outcome"], failed["changed"], failed["verified"]) == ("failed", True, []), failed
    assert "back from 1.1.0 to 1.0.0, but it is not healthy: /bin/false exited 1." in failed["message"], failed
    assert "Switched back to 1.1.0" in failed["message"] and failed["details"]["restored"] == "1.1.0", failed
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.1.0"
    assert server.unit("ActiveState") == {"ActiveState": "active"}, "active all along: only the command tells"

    server.sh("rm /opt/demo-app/releases/1.0.0/.incident-remediation-bad")  # marked bad by the switch back
    rc, fixed, ran = rollback_role(host, "command-passes", rollback_health_command=[HEALTH_CHECK],
                                   rollback_version="1.0.0", rollback_health_timeout=10, **by_command)  # fmt: skip
    assert rc == 0 and fixed, ran[-3:]
    assert (fixed["outcome"], fixed["details"]["from"], fixed["details"]["to"]) == ("fixed", "1.1.0", "1.0.0"), fixed
    (health,) = fixed["verified"]
    assert (health["check"], health["kind"]) == (HEALTH_CHECK, "health"), health
    assert health["result"].startswith("exit 0: ") and '"version": "1.0.0"' in health["result"], health


def test_the_role_hands_back_a_failure_with_the_message_the_operator_reads(host):
    """A dangling current whose target is broken too: failed, changed, nothing switched back, said as before."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0", "faults": {"never_ready": True}}, {"version": "2.0.0"}])
    server.sh("rm -rf /opt/demo-app/releases/2.0.0 && systemctl restart demo-app.service", check=False)
    wait_down(server)
    rc, result, ran = rollback_role(host, "failed", rollback_health_timeout=6)
    assert rc != 0 and result, ran[-3:]
    assert (result["outcome"], result["changed"], result["verified"]) == ("failed", True, []), result
    assert "Not switching back: current pointed at releases/2.0.0, which does not exist" in result["message"]
    failed = [task for task in ran if task.get("failed")]
    assert failed[-1]["msg"] == result["message"], "the role fails with its result's message"
    assert (result["details"]["from"], result["details"]["to"]) == ("2.0.0", "1.0.0"), result["details"]
    assert "restored" not in result["details"], "nothing was switched back"


# --- the escalation ladder (issue 22, item 4): restart, then rollback, each verified ------------------------------

BUDGET = "/var/lib/incident-remediation/restart-budget/demo-app.service.json"


def restart_escalating(host, name: str) -> tuple[int, dict | None, str, Path]:
    """ansible-playbook incident.remediation.restart -e escalate=true, as an operator runs it."""
    _, _, work = host
    incidents = work / name
    variables = {"incident_id": f"LADDER-{name}", "incident_evidence_dir": str(incidents), "restart_health_timeout": 8}
    done = playbook(write_inventory(work / f"{name}-inventory", [HOST], {}), "incident.remediation.restart",
                    "--limit", HOST, "-e", "service=demo-app", "-e", "escalate=true", "-e", json.dumps(variables),
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    folder = Path(incidents) / f"LADDER-{name}"
    path = folder / "timeline.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    outcome = next((e["data"] for e in events if e["event"] == "outcome"), None)
    return done.returncode, outcome, done.stdout + done.stderr, folder


def test_a_restart_that_does_not_help_climbs_to_a_rollback_and_a_second_climb_in_the_window_is_refused(host):
    """Two rungs on a real host: 1.1.0 never gets ready, so the restart (rung 1) does not restore the service and
    the rollback (rung 2, the window's one escalation) does; the report shows each rung. The same fault again in
    the window: the restart fails again and the climb is refused (people are paged), the host left on 1.1.0."""
    server = host[0]
    redeploy(host, [{"version": "1.0.0"}, {"version": "1.1.0", "faults": {"never_ready": True}}])
    assert server.health() is None or server.health()["status"] != "ready"
    rc, outcome, output, folder = restart_escalating(host, "climb")
    assert rc == 0 and outcome and outcome["status"] == "resolved", output[-4000:]
    assert (server.health() or {}).get("version") == "1.0.0", "rolled back to 1.0.0 and ready"
    rungs = outcome["ladder"]
    assert [(r["mitigation"], r["restored"]) for r in rungs] == [("restart", False), ("rollback", True)], rungs
    assert rungs[0]["outcome"] == "failed" and "is not healthy" in rungs[0]["reason"], rungs[0]
    assert rungs[1]["outcome"] == "fixed" and "rolled back and healthy" in rungs[1]["message"], rungs[1]
    assert outcome["mitigation"] == "restart" and outcome["result"]["details"]["to"] == "1.0.0", outcome
    assert outcome["reason"].startswith("verified healthy after rung 2, rollback; restart did not restore"), outcome
    steps = [a["step"] for a in outcome["actions"]]
    assert steps[-1] == "rollback" and "restart" in steps, steps
    budget = json.loads(server.sh(f"cat {BUDGET}").stdout)
    assert len(budget["restarts"]) == 1 and len(budget["escalations"]) == 1, budget
    report = (folder / "report.md").read_text()
    assert "Rung 1, restart: failed" in report and "Rung 2, rollback: fixed" in report, report
    marker = json.loads(server.sh("cat /opt/demo-app/releases/1.1.0/.incident-remediation-bad").stdout)
    assert "LADDER-climb: restart did not restore the service" in marker["reason"], "the marker says why"

    # the same fault again, within the window: the restart does not help and the escalation is spent
    server.sh("rm -f /opt/demo-app/releases/1.1.0/.incident-remediation-bad && ln -sfn releases/1.1.0 "
              "/opt/demo-app/current && systemctl restart demo-app.service")  # fmt: skip
    rc, outcome, output, _ = restart_escalating(host, "again")
    assert rc != 0 and outcome and outcome["status"] == "refused", output[-4000:]
    assert "already escalated in the last 15 min" in outcome["reason"], outcome["reason"]
    assert outcome["reason"].startswith("refused: "), outcome["reason"]
    rungs = outcome["ladder"]
    assert [(r["mitigation"], r["outcome"], r["stop"]) for r in rungs] == [
        ("restart", "failed", False), ("rollback", "refused", True)], rungs  # fmt: skip
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.1.0", "not rolled back again"
    budget = json.loads(server.sh(f"cat {BUDGET}").stdout)
    assert len(budget["restarts"]) == 2 and len(budget["escalations"]) == 1, budget
