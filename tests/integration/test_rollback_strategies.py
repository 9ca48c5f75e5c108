"""The rollback's git and command strategies on a real systemd host (issue 23, item 1).

git (seed 003's rollback_deployment.sh): demo-app runs from a git working tree owned by its own account, cloned
from an origin whose deployment-stable branch is the last good release; a bad commit is deployed and the tree
edited by hand. The rollback stops the unit, keeps the bad commit and the dirty tree's status and diff, resets to
origin/deployment-stable, cleans, restores the config from its backup, starts and proves health; the commit it
proved good is the target of the next rollback without a ref. command (seed 001's bin/rollback.sh vX.Y.Z): a
script on the host switches versions; a script that exits 0 and leaves the service unhealthy is a failure.
One podman host, remediation-it-rollback-strategies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hosts import ROOT, PodmanHost, deploy, host_name, image_exists, playbook, write_inventory
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-rollback-strategies")
CONFIG = "/etc/demo-app/config.yml"
TREE, ORIGIN = "/srv/demo-git", "/srv/demo-origin.git"
RECORD = "/var/lib/incident-remediation/rollback/demo-app.service.json"
GIT = "git -c user.name=dev -c user.email=dev@example.com"
SCRIPT = "/usr/local/bin/demo-rollback.sh"
GIT_SERVICE = {"rollback_strategy": "git", "release_root": "", "git_repo": TREE, "git_ref": "origin/deployment-stable",
               "config_backup": f"{TREE}/config.yml"}  # fmt: skip


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("strategies")
    server = PodmanHost(HOST, free_port())
    releases = [{"version": "1.0.0"}, {"version": "1.1.0", "faults": {"never_ready": True}},
                {"version": "1.2.0", "faults": {"never_ready": True}}]  # fmt: skip
    try:
        server.start()
        inventory = write_inventory(work / "deploy", [HOST], {})
        deploy(inventory, HOST, {"demo_app_releases": releases, "demo_app_current": "1.0.0"})
        yield server, inventory, work
    finally:
        server.stop()


def git_deployment(server: PodmanHost) -> str:
    """origin: 1.0.0 on main and deployment-stable; the tree (demo-app's own) at a bad commit (1.1.0, never ready),
    edited by hand (a tracked file changed, a stray file); current -> the tree. The stable commit."""
    server.sh(f"""set -e
        systemctl stop demo-app.service; rm -rf {TREE} {ORIGIN} /var/lib/incident-remediation
        git init -q --bare -b main {ORIGIN} && git clone -q {ORIGIN} {TREE} 2>/dev/null
        cp -a /opt/demo-app/releases/1.0.0/. {TREE}/ && cd {TREE} && git add -A && {GIT} commit -qm 'release 1.0.0'
        git push -q origin HEAD:main HEAD:deployment-stable
        cp /opt/demo-app/releases/1.1.0/release.json . && {GIT} commit -qam 'release 1.1.0'
        git push -q origin HEAD:main
        echo '# hotfix typed on the host' >> demo_app.py && echo stray > stray.txt
        chown -R demo-app:demo-app {TREE} && ln -sfn {TREE} /opt/demo-app/current
        echo 'log_level: debug' >> {CONFIG} && systemctl reset-failed demo-app.service; systemctl start demo-app.service
    """)  # fmt: skip
    return server.sh(f"git -C {ORIGIN} rev-parse deployment-stable").stdout.strip()


def head(server: PodmanHost) -> str:
    return server.sh(f"git -c safe.directory={TREE} -C {TREE} rev-parse HEAD").stdout.strip()


def role(host, name: str, check: bool = False, **variables) -> tuple[int, dict | None, list[dict]]:
    """The rollback role on its own (in check mode with check=True): (rc, rollback_result, tasks run)."""
    _, inventory, work = host
    folder = work / f"role-{name}"
    folder.mkdir()
    given = {"rollback_unit": "demo-app.service", "rollback_health_url": "http://127.0.0.1:8080/health",
             "rollback_config_path": CONFIG, **variables}  # fmt: skip
    play = {"name": name, "hosts": HOST, "gather_facts": False,
            "roles": [{"role": "incident.remediation.rollback", "vars": given}]}  # fmt: skip
    (folder / "play.yml").write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(folder / "play.yml"), *(["--check"] if check else [])], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    ran = [{"task": t["task"]["name"], **t["hosts"][HOST]} for t in tasks if HOST in t["hosts"]]
    handed = [task["mitigation_result"] for task in ran if "mitigation_result" in task]
    return done.returncode, (handed[-1] if handed else None), ran


def test_git_rollback_to_the_stable_ref_keeps_the_bad_commit_and_the_dirty_tree(host):
    server, _, work = host
    stable = git_deployment(server)
    bad = head(server)
    assert (server.health() or {}).get("status") != "ready", "1.1.0 never gets ready"

    rc, planned, ran = role(host, "git-check", check=True, rollback_strategy="git", rollback_git_repo=TREE,
                            rollback_git_ref="origin/deployment-stable")  # fmt: skip
    assert rc == 0 and planned and planned["check_mode"] and planned["changed"], (planned, ran[-3:])
    assert planned["steps"][1]["outcome"].startswith(f"would reset {TREE} from {bad[:12]} to {stable[:12]}"), planned
    assert head(server) == bad and server.sh("test -e /var/lib/incident-remediation", check=False).returncode != 0
    assert "hotfix" in server.sh(f"tail -1 {TREE}/demo_app.py").stdout, "check mode changed nothing"

    # through the incident's own mapping: the service description names the strategy
    incidents = work / "git"
    variables = {"incident_id": "RB-git", "incident_evidence_dir": str(incidents)}
    done = playbook(write_inventory(work / "git-inventory", [HOST], GIT_SERVICE), "incident.remediation.rollback",
                    "--limit", HOST, "-e", "service=demo-app", "-e", json.dumps(variables),
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    events = [json.loads(line) for line in (incidents / "RB-git" / "timeline.jsonl").read_text().splitlines()]
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert done.returncode == 0 and outcome["status"] == "resolved", (done.stdout + done.stderr)[-4000:]
    result = outcome["result"]
    assert result["outcome"] == "fixed" and result["details"]["strategy"] == "git", result
    assert head(server) == stable and (server.health() or {}).get("version") == "1.0.0"
    assert server.sh(f"git -c safe.directory={TREE} -C {TREE} status --porcelain").stdout == "", "reset and cleaned"
    assert server.sh(f"cat {CONFIG}").stdout == server.sh(f"cat {TREE}/config.yml").stdout, "config from its backup"
    # the incident's record keeps the result's outcome, message and details; the evidence is on the host
    paths = server.sh("find /var/lib/incident-remediation/rollback/demo-app.service/evidence -type f").stdout.split()
    kept = {Path(path).name: server.sh(f"cat {path}").stdout for path in paths}
    assert "hotfix typed on the host" in kept["diff.patch"] and "?? stray.txt" in kept["status.txt"], kept
    assert kept["head.txt"].startswith(f"commit {bad}") and "log_level: debug" in kept[next(
        name for name in kept if name.startswith("config.rolled-back-from-"))], kept  # fmt: skip
    assert result["details"]["bad_release"]["bad_commit"] == bad
    assert server.sh(f"git -C {TREE} -c safe.directory={TREE} cat-file -t refs/incident-remediation/bad/{bad}"
                     ).stdout.strip() == "commit", "the bad commit kept"  # fmt: skip
    record = json.loads(server.sh(f"cat {RECORD}").stdout)
    assert [e["version"] for e in record["bad"]] == [bad] and record["good"][-1]["version"] == stable, record

    pid = server.unit("MainPID")
    rc, again, ran = role(host, "git-again", rollback_strategy="git", rollback_git_repo=TREE,
                          rollback_git_ref="origin/deployment-stable", rollback_only_if_unhealthy=False)  # fmt: skip
    assert rc == 0 and (again["outcome"], again["changed"]) == ("unchanged", False), (again, ran[-3:])
    assert [task["task"] for task in ran if task.get("changed")] == [] and server.unit("MainPID") == pid


def test_git_rollback_without_a_ref_returns_to_the_commit_recorded_good(host):
    """After the rollback above, the stable commit is recorded good: a new bad deploy goes back to it, no ref."""
    server = host[0]
    good = head(server)
    server.sh(
        f"cd {TREE} && cp /opt/demo-app/releases/1.2.0/release.json . && chown demo-app: release.json && "
        f"{GIT} -c safe.directory={TREE} commit -qam 'release 1.2.0' && systemctl restart demo-app.service"
    )
    bad = head(server)
    rc, result, ran = role(host, "git-recorded", rollback_strategy="git", rollback_git_repo=TREE)
    assert rc == 0 and result["outcome"] == "fixed", (result, ran[-3:])
    assert head(server) == good and (server.health() or {}).get("version") == "1.0.0"
    assert result["details"]["bad_release"]["ref"] == "recorded good" and result["details"]["from"] == bad[:12]


def test_git_rollback_refuses_a_ref_that_could_be_an_option(host):
    server = host[0]
    before = head(server)
    rc, result, _ = role(host, "git-hostile", rollback_strategy="git", rollback_git_repo=TREE,
                         rollback_git_ref="--upload-pack=touch /tmp/pwned",
                         rollback_only_if_unhealthy=False)  # fmt: skip
    assert rc != 0 and result["outcome"] == "refused" and "is not a ref" in result["message"], result
    assert head(server) == before and server.sh("test -e /tmp/pwned", check=False).returncode != 0


ROLLBACK_SH = """#!/bin/sh
set -e
echo "switching to $1"
ln -sfn "releases/$1" /opt/demo-app/current
systemctl restart demo-app.service
echo done >&2
"""
VERSION_SH = """#!/bin/sh
readlink /opt/demo-app/current | sed s,releases/,,
"""


def command_deployment(server: PodmanHost) -> None:
    """The operator's script: points current at releases/$1 and restarts; the version deployed read from current.
    Deployed: 1.2.0, which never gets ready."""
    server.sh(f"cat > {SCRIPT} <<'EOF'\n{ROLLBACK_SH}EOF\n"
              f"cat > /usr/local/bin/demo-version.sh <<'EOF'\n{VERSION_SH}EOF\n"
              f"chmod 755 {SCRIPT} /usr/local/bin/demo-version.sh && rm -rf /var/lib/incident-remediation && "
              "ln -sfn releases/1.2.0 /opt/demo-app/current && systemctl restart demo-app.service")  # fmt: skip


COMMAND = {"rollback_strategy": "command", "rollback_command": [SCRIPT],
           "rollback_command_current": ["/usr/local/bin/demo-version.sh"]}  # fmt: skip


def test_command_rollback_runs_the_operators_script_and_proves_health_itself(host):
    server = host[0]
    command_deployment(server)
    rc, planned, _ = role(host, "command-check", check=True, rollback_version="1.0.0", **COMMAND)
    assert rc == 0 and planned["steps"][1]["outcome"] == f"would run {SCRIPT} 1.0.0", planned
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.2.0", "nothing run"

    rc, result, ran = role(host, "command", rollback_version="1.0.0", **COMMAND)
    assert rc == 0 and result["outcome"] == "fixed", (result, ran[-3:])
    assert (server.health() or {}).get("version") == "1.0.0"
    assert result["message"].startswith("rolled back and healthy: demo-app.service on"), result["message"]
    out = server.sh(f"cat {result['evidence'][0]}").stdout
    assert out == "switching to 1.0.0\n", "the script's output kept as evidence"
    assert json.loads(server.sh(f"cat {RECORD}").stdout)["bad"][0]["version"] == "1.2.0"

    rc, again, ran = role(host, "command-again", rollback_version="1.0.0", rollback_only_if_unhealthy=False, **COMMAND)
    assert rc == 0 and (again["outcome"], again["changed"]) == ("unchanged", False), (again, ran[-3:])
    assert [task["task"] for task in ran if task.get("changed")] == [], "already on 1.0.0: the script not run"


def test_a_script_that_exits_0_leaving_the_service_unhealthy_is_a_failure(host):
    server = host[0]
    command_deployment(server)
    rc, result, ran = role(host, "command-unhealthy", rollback_version="1.1.0", rollback_health_timeout=5, **COMMAND)
    assert rc != 0 and result and result["outcome"] == "failed", (result, ran[-3:])
    assert f"ran {SCRIPT} 1.1.0 for demo-app.service on" in result["message"], result["message"]
    assert "(it exited 0), but the service is not healthy" in result["message"], result["message"]
    assert result["changed"] and result["verified"] == [], result
    assert server.sh("readlink /opt/demo-app/current").stdout.strip() == "releases/1.1.0"
