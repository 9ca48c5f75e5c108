"""From a fault on a real systemd host to the resolved alert, with nothing in between but real parts:
demo-app in a podman container, Prometheus scraping it with the runbooks' rules, Alertmanager posting
to `remediate serve` with its bearer token, ansible-runner running remediate.yml.

Each scenario: the fault, then the alert fires, exactly one job runs, the alert's silence exists while
it runs, Prometheus sees the service healthy, the alert resolves, the silence is gone, and the job left
a timeline and a report. The scenarios share one host and reset it (tests/support/stack.py).
"""

from __future__ import annotations

import pytest
from hosts import image_exists
from monitoring import free_port
from stack import HOST, Incident, running_stack

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
INSTANCE = f'instance="{HOST}:8080"'
CACHE = "/var/cache/demo-app"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("e2e"), free_port()) as running:
        yield running


def remediated(incident: Incident, mitigation: str) -> dict:
    """The promise of every scenario that ends fixed; returns the outcome."""
    stack, job = incident.stack, incident.job
    assert job["state"] == "succeeded", f"{job}\n{incident.log()}"
    outcome = incident.outcome()
    assert outcome["status"] == "resolved" and outcome["mitigation"] == mitigation, outcome
    assert [p for _, p in incident.silences()], "a silence for this incident"
    assert any("active" in states for _, states in incident.silences()), "the silence was active while the job ran"
    stack.prometheus.wait_for(f"up{{{INSTANCE}}} == 1 and demo_app_ready{{{INSTANCE}}} == 1", timeout=30)
    incident.wait_resolved()
    assert incident.silence_state_now() == ["expired"], "the silence is gone"
    assert len(incident.jobs()) == 1, f"exactly one job: {incident.jobs()}"
    phases = [e["phase"] for e in incident.events() if e["event"] == "phase"]
    assert phases == ["acknowledge", "diagnose", "resolve", "verify", "close"]
    report = stack.receiver.get(f"/jobs/{job['id']}/report")
    assert "## Timeline" in report and "1 of 1 host(s) resolved" in report, report[:2000]
    return outcome


def changed_tasks(incident: Incident) -> list[str]:
    return [e["task"].split(" : ")[-1] for e in incident.events() if e["event"] == "task" and e["status"] == "changed"]


def corrupt(stack, count: int) -> list[str]:
    """Change `count` cached artifacts and restart the service, which finds them at start."""
    names = stack.host.sh(f"cd {CACHE} && ls | grep -v manifest | sort | head -n {count}").stdout.split()
    stack.host.sh(" && ".join(f"echo tampered >> {CACHE}/{name}" for name in names))
    stack.host.sh("systemctl restart demo-app.service")
    return names


def tampered(stack, name: str) -> bool:
    return stack.host.sh(f"grep -c tampered {CACHE}/{name}", check=False).stdout.strip() != "0"


def test_a_crash_is_fixed_by_a_restart(stack):
    stack.deploy()
    stack.host.crash()
    incident = stack.run_incident("DemoAppDown")
    remediated(incident, "restart")
    assert "Restart the unit" in changed_tasks(incident)
    assert "SIGKILL" in (incident.folder / HOST / "diagnose" / "logs.txt").read_text()


def test_a_bad_release_that_a_restart_cannot_fix_is_rolled_back(stack):
    stack.deploy(demo_app_releases=[{"version": "1.0.0"}, {"version": "1.1.0", "faults": {"crash_at_start": True}}],
                 demo_app_wait_ready=False)  # fmt: skip
    incident = stack.run_incident("DemoAppDown")
    outcome = remediated(incident, "restart")
    steps = [a.get("step") for a in outcome["actions"]]
    assert "rollback" in " ".join(map(str, steps)), outcome["actions"]
    assert stack.host.health()["version"] == "1.0.0"
    assert stack.prometheus.query(f'demo_app_info{{{INSTANCE},version="1.0.0"}}'), "Prometheus sees 1.0.0"


def test_a_corrupted_artifact_is_purged_and_restored(stack):
    stack.deploy()
    (name,) = corrupt(stack, 1)
    incident = stack.run_incident("DemoAppDigestVerificationFailed")
    remediated(incident, "cache_purge")
    assert stack.host.sh(f"cd {CACHE} && sha256sum --quiet -c manifest.sha256", check=False).returncode == 0
    assert not tampered(stack, name)
    assert list(incident.folder.glob(f"{HOST}/cache.tar.gz")), "the evidence was archived before the purge"


def test_many_corrupted_artifacts_stop_the_service_and_escalate_without_purging(stack):
    stack.deploy()
    names = corrupt(stack, 3)
    try:
        incident = stack.run_incident("DemoAppDigestVerificationFailed")
        assert incident.job["state"] == "failed", incident.job
        outcome = incident.outcome()
        assert outcome["status"] == "failed" and outcome["reason"].startswith("SECURITY: 3 artifacts"), outcome
        assert stack.host.sh("systemctl is-active demo-app.service", check=False).stdout.strip() == "inactive"
        assert all(tampered(stack, name) for name in names), "nothing was purged"
        assert list(incident.folder.glob(f"{HOST}/cache.tar.gz")), "the evidence is kept"
        assert incident.silence_state_now() == ["expired"], "a security escalation pages people at once"
        assert stack.host.sh("cat /var/lib/incident-remediation/quarantine/demo-app.service.json").stdout

        # the stopped service then pages as down: that incident is only diagnosed, nothing starts it again
        down = stack.run_incident("DemoAppDown")
        assert down.job["state"] == "succeeded", down.log()
        assert down.outcome()["status"] == "diagnosed" and "quarantined" in down.outcome()["reason"]
        assert stack.host.sh("systemctl is-active demo-app.service", check=False).stdout.strip() == "inactive"
        assert not down.silences(), "the quarantined unit's incident silenced nothing: people are paged"
        assert len(incident.jobs()) == 2, "one job for each alert"
    finally:  # what a person does after the review: the next scenarios start from a working host
        stack.host.sh(
            "rm -f /var/lib/incident-remediation/quarantine/demo-app.service.json && "
            "python3 /opt/demo-app/current/demo_app.py --config /etc/demo-app/config.yml resync && "
            "systemctl reset-failed demo-app.service; systemctl start demo-app.service",
            check=False,
        )


def test_a_missing_proxy_is_given_to_the_service(stack):
    stack.deploy(demo_app_config={"faults": {"require_proxy": True}}, demo_app_wait_ready=False)
    incident = stack.run_incident("DemoAppRemoteSyncProxyMissing")
    remediated(incident, "proxy_config")
    environment = stack.host.sh("systemctl show demo-app.service -p Environment").stdout
    assert "HTTPS_PROXY=http://proxy.invalid:3128" in environment and "NO_PROXY=" in environment


def test_too_many_instances_raise_the_memory_limit(stack):
    stack.deploy(demo_app_config={"instances": 2, "instance_memory_mb": 5})
    stack.host.sh("curl -sf -X POST -d '{\"instances\": 6}' http://127.0.0.1:8080/control/faults")
    incident = stack.run_incident("DemoAppActiveInstancesExtremelyHigh")
    remediated(incident, "memory_limit")
    # the runbook formula: 6 instances x 50 MB + 500 MB = 800 MB, rounded up to 2G
    assert stack.host.unit("MemoryMax") == {"MemoryMax": str(2 * 1024**3)}


def test_a_bad_config_toggle_is_turned_back(stack):
    stack.deploy(demo_app_config={"providers": {"primary": {"active": True}, "flaky": {"active": True,
                                                                                      "broken": True}}})  # fmt: skip
    incident = stack.run_incident("DemoAppHighErrorRate")
    remediated(incident, "config_change")
    assert stack.prometheus.query(f'demo_app_provider_active{{{INSTANCE},provider="flaky"}} == 0')
    error_rate = stack.prometheus.query(
        f'sum(rate(demo_app_requests_total{{{INSTANCE},outcome="error"}}[10s]))'
    )  # fmt: skip
    assert float(error_rate[0]["value"][1]) == 0.0
