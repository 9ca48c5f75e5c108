"""remediate.yml end to end on a real systemd host, with a real alert from real Prometheus and Alertmanager.

The demo service runs in a podman container with its port published on loopback; Prometheus scrapes it
and fires DemoAppDown (critical) and DemoAppDegraded (warning) when it is down; Alertmanager posts them
to a webhook sink, and the payload it posted is what the playbook is given (as the front end will pass it:
every string unsafe).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from hosts import PLAYBOOK, PodmanHost, ansible_env, deploy, host_name, image_exists, playbook, write_inventory
from monitoring import Alertmanager, Prometheus, WebhookSink, free_port, http_json
from stack import Traffic

from incident_remediation.extravars import write_unsafe
from incident_remediation.routing import Route, decide, extra_vars
from incident_remediation.webhook import parse_alert

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-incident")
EXPRESSION = 'up{job="demo-app"} == 0'
# Work requests answered 500 (the demo's run-time error_rate fault), as the e2e stack's rule has it.
ERROR_RATE = (
    'sum by (instance) (rate(demo_app_requests_total{job="demo-app",outcome="error"}[10s]))'
    ' / sum by (instance) (rate(demo_app_requests_total{job="demo-app"}[10s])) > 0.01'
)
RULES = {
    "groups": [
        {
            "name": "demo-app",
            "rules": [
                {"alert": "DemoAppDown", "expr": EXPRESSION, "labels": {"severity": "critical", "service": "demo-app"},
                 "annotations": {"summary": "demo-app on {{ $labels.instance }} is down"}},
                {"alert": "DemoAppDegraded", "expr": EXPRESSION, "labels": {"severity": "warning"},
                 "annotations": {"summary": "demo-app degraded; label injection: {{ `{{ lookup('pipe', 'id') }}` }}"}},
                # fires whatever is done on the host: a restart cannot end it
                {"alert": "DemoAppStuck", "expr": 'up{job="demo-app"} >= 0',
                 "labels": {"severity": "critical", "service": "demo-app"}},
                {"alert": "DemoAppHighErrorRate", "expr": ERROR_RATE, "for": "2s",
                 "labels": {"severity": "critical", "service": "demo-app"}},
            ],
        }
    ]
}  # fmt: skip
PHASES = ["acknowledge", "diagnose", "resolve", "verify", "close"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A deployed host, Prometheus scraping it, Alertmanager posting to a sink; torn down even on failure."""
    work = tmp_path_factory.mktemp("incident")
    sink = WebhookSink()
    alertmanager = Alertmanager(
        work / "alertmanager",
        {
            "route": {"receiver": "sink", "group_by": ["alertname", "instance"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "sink", "webhook_configs": [{"url": sink.url, "send_resolved": True}]}],
        },
    )  # fmt: skip
    host = PodmanHost(HOST, free_port())
    prometheus = None
    try:
        alertmanager.start()
        host.start()
        prometheus = Prometheus(work / "prometheus", targets=[f"127.0.0.1:{host.port}"], rules=RULES,
                                alertmanager=alertmanager.url, job="demo-app",
                                labels={"instance": f"{HOST}:8080"}).start()  # fmt: skip
        inventory = write_inventory(
            work / "inventory",
            [HOST],
            {
                "prometheus_url": prometheus.url,
                "alertmanager_url": alertmanager.url,
                "alerts": {
                    "DemoAppDown": {"mitigation": "restart"},
                    "DemoAppDegraded": "restart",
                    "DemoAppStuck": "restart",
                    # as the example inventory maps it: restart first, roll back when that does not help
                    "DemoAppHighErrorRate": {"mitigation": "restart", "options": {"escalate": True}},
                },
            },
        )
        deploy(inventory, HOST)
        prometheus.wait_for(f'up{{instance="{HOST}:8080"}} == 1', timeout=30)
        yield {"work": work, "inventory": inventory, "host": host, "prometheus": prometheus,
               "alertmanager": alertmanager, "sink": sink}  # fmt: skip
    finally:
        if prometheus:
            prometheus.stop()
        host.stop()
        alertmanager.stop()
        sink.stop()


def remediate(stack, alert: dict, name: str, **variables):
    incidents = stack["work"] / name
    extravars = write_unsafe(stack["work"] / f"{name}.json", {"alert": alert})
    done = playbook(
        stack["inventory"], "incident.remediation.remediate", "--limit", HOST, "-e", f"@{extravars}",
        "-e", json.dumps({"incident_evidence_dir": str(incidents), "incident_verify_hold": 3,
                          "incident_verify_wait": 60, "incident_verify_interval": 1, **variables}),
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    return done, incidents


def timeline(incidents: Path) -> tuple[Path, list[dict]]:
    (folder,) = [p for p in incidents.iterdir() if (p / "timeline.jsonl").exists()]
    return folder, [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]


def silences_about(stack, incident_id: str) -> list[dict]:
    return [s for s in stack["alertmanager"].silences() if incident_id in s["comment"]]


def crashed(stack) -> dict:
    """The host with demo-app crashed, once both alerts have fired; the unit's state before remediation."""
    host = stack["host"]
    if host.health() is not None:
        host.crash()
    stack["sink"].wait_for_alert("DemoAppDown")
    stack["sink"].wait_for_alert("DemoAppDegraded")
    return host.unit("ActiveState", "MainPID", "NRestarts")


def test_a_warning_only_diagnoses_and_changes_nothing(stack):
    before = crashed(stack)
    _, alert = stack["sink"].wait_for_alert("DemoAppDegraded")
    done, incidents = remediate(stack, alert, "warning")
    assert done.returncode == 0, done.stdout[-4000:]
    folder, events = timeline(incidents)
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert outcome["status"] == "diagnosed"
    assert "severity P2 of DemoAppDegraded may not act automatically" in outcome["reason"]
    assert [e["phase"] for e in events if e["event"] == "phase"] == ["acknowledge", "diagnose", "close"]
    assert not [e for e in events if e["event"] == "task" and e["status"] == "changed" and e["phase"] != "diagnose"]
    assert stack["host"].unit("ActiveState", "MainPID", "NRestarts") == before, "the host was left as it was"
    assert stack["host"].health() is None
    assert silences_about(stack, folder.name) == [], "no silence: the humans who must decide are still paged"
    assert stack["host"].sh("ls /var/lib/incident-remediation/restart-budget 2>/dev/null", check=False).stdout == ""
    # the annotation's template text reached the evidence literally, never evaluated
    diagnosis = json.loads((folder / HOST / "diagnose" / "diagnosis.json").read_text())
    assert "{{ lookup('pipe', 'id') }}" in diagnosis["alert"]["annotations"]["summary"]
    assert "uid=" not in (folder / "timeline.jsonl").read_text()
    report = (folder / "report.md").read_text()
    assert "restart not run (diagnosis only)" in report and "Decide the mitigation" in report


def test_a_critical_alert_is_remediated_verified_and_recorded(stack):
    crashed(stack)
    payload, alert = stack["sink"].wait_for_alert("DemoAppDown")
    assert payload["version"] == "4"
    done, incidents = remediate(stack, alert, "critical")
    assert done.returncode == 0, done.stdout[-6000:]
    assert stack["host"].health()["status"] == "ready"
    assert stack["prometheus"].query(f'up{{instance="{HOST}:8080"}} == 1'), "Prometheus sees it up again"

    folder, events = timeline(incidents)
    assert folder.name == f"INC-{alert['startsAt'][:19].replace('-', '').replace(':', '')}-{alert['fingerprint']}"
    assert [e["phase"] for e in events if e["event"] == "phase"] == PHASES, "every phase, in order"
    assert all(e["incident"] == folder.name and e["host"] == HOST for e in events)
    tasks = {e["task"].split(" : ")[-1]: e for e in events if e["event"] == "task"}
    assert tasks["Silence the alert while acting (an Alertmanager that is down does not stop the remediation)"][
        "status"] == "changed"  # fmt: skip
    assert tasks["Restart the unit"]["status"] == "changed" and tasks["Restart the unit"]["phase"] == "resolve"
    assert tasks["Verify that Prometheus no longer has the alert, pending or firing (its own ALERTS series)"][
        "status"] == "ok"  # fmt: skip
    assert tasks[next(t for t in tasks if t.startswith("Expire the silence"))]["status"] == "changed"

    # the silence existed (created by this incident) and is expired now
    (silence,) = silences_about(stack, folder.name)
    assert silence["status"]["state"] == "expired"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == alert["labels"]

    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert outcome["status"] == "resolved" and outcome["silence"]["state"] == "expired"
    checks = [c["check"] for c in outcome["verification"]]
    assert (
        checks[0].startswith("health ")
        and f"ALERTS of DemoAppDown {json.dumps(alert['labels'], sort_keys=True)}" in checks
    )
    sections = [line.split()[1] for line in (folder / HOST / "diagnose" / "logs.txt").read_text().splitlines()
                if line.startswith("==== ")]  # fmt: skip
    assert sections == ["systemctl", "journalctl", "dmesg", "coredumpctl"], sections
    assert "SIGKILL" in (folder / HOST / "diagnose" / "logs.txt").read_text()
    assert not list((folder / HOST).glob("*/journal.txt")), "the restart keeps no second copy of the incident's read"

    report = (folder / "report.md").read_text()
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings[:7] == ["## Summary", "## Timeline", "## Impact", "## Root Cause", "## Actions Taken",
                            "## Verification Evidence", "## Follow-ups"]  # fmt: skip
    assert f"**Incident ID:** {folder.name}" in report and "**Severity:** P0 (critical)" in report
    assert "1 of 1 host(s) resolved" in report and "From alert to verified fix" in report
    assert "INCIDENT " + folder.name in done.stdout, "the callback's summary closes the run"

    # and Alertmanager sees the alert resolve
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alerts = http_json(f"{stack['alertmanager'].url}/api/v2/alerts?filter=alertname%3D%22DemoAppDown%22")
        if not alerts:
            break
        time.sleep(1)
    assert not alerts, "DemoAppDown resolved"


def test_the_silence_matches_the_whole_alert_whatever_the_route_passes(stack):
    """A route passing only severity must not silence DemoAppDown on every host: the matchers are all its labels."""
    crashed(stack)
    _, raw = stack["sink"].wait_for_alert("DemoAppDown")
    alert = parse_alert(raw)
    route = Route(
        name="narrow", alertname="DemoAppDown", playbook="incident.remediation.remediate", labels=("severity",)
    )
    decision = decide(alert, [route])
    assert decision.runs and decision.target == HOST, decision.trace
    variables = {**extra_vars(decision, "NARROW-1"), "incident_silence_on_failure": "keep"}
    assert set(variables["alert"]["labels"]) == {"alertname", "severity"}, "the playbook gets the route's labels only"
    incidents = stack["work"] / "narrow"
    done = playbook(
        stack["inventory"], "incident.remediation.remediate", "--limit", HOST,
        "-e", f"@{write_unsafe(stack['work'] / 'narrow.json', variables)}",
        "-e", json.dumps({"incident_evidence_dir": str(incidents), "incident_verify_hold": 3,
                          "incident_verify_wait": 60, "incident_verify_interval": 1}),
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:]
    (silence,) = silences_about(stack, "NARROW-1")
    assert {m["name"]: m["value"] for m in silence["matchers"]} == alert.labels, "every label of the alert"
    assert all(m["isEqual"] and not m["isRegex"] for m in silence["matchers"])
    assert alert.labels["instance"] == f"{HOST}:8080", "so it silences this host's alert, not every host's"


def test_check_mode_reports_and_changes_nothing(stack):
    incidents = stack["work"] / "check"
    before = stack["host"].unit("ActiveState", "MainPID", "NRestarts")
    done = playbook(
        stack["inventory"], "incident.remediation.restart", "--limit", HOST, "--check", "-e", "service=demo-app",
        "-e", "force=true", "-e", "incident_id=CHECK-1", "-e", f"incident_evidence_dir={incidents}",
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    _, events = timeline(incidents)
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert outcome["status"] == "checked" and outcome["reason"].startswith("check mode: nothing was changed")
    assert stack["host"].unit("ActiveState", "MainPID", "NRestarts") == before
    assert not (incidents / "CHECK-1" / HOST / "diagnose").exists(), "no evidence written in check mode"


def operator_run(stack, name: str, *extra: str, playbook_name: str = "restart"):
    """An operator's run of a mitigation playbook on the host; its outcome from the timeline."""
    incidents = stack["work"] / name
    done = playbook(
        stack["inventory"], f"incident.remediation.{playbook_name}", "--limit", HOST, "-e", "service=demo-app",
        "-e", f"incident_id={name}", "-e", f"incident_evidence_dir={incidents}", *extra,
        INCIDENT_TIMELINE_DIR=str(incidents),
    )  # fmt: skip
    _, events = timeline(incidents)
    return done, next(e["data"] for e in events if e["event"] == "outcome")


def test_no_host_read_or_an_unreadable_quarantine_means_no_action(stack):
    host = stack["host"]
    if host.health() is not None:
        host.crash()
    before = host.unit("ActiveState", "MainPID", "NRestarts")
    quarantine = "/var/lib/incident-remediation/quarantine/demo-app.service.json"
    try:
        # a quarantine file that is not UTF-8 is still someone's stop sign (the module crashed on it, and acted)
        host.sh(f"mkdir -p {quarantine.rsplit('/', 1)[0]} && printf 'stopped by \\377 hand' > {quarantine}")
        done, outcome = operator_run(stack, "QUARANTINE-1")
        assert done.returncode == 0, done.stdout[-4000:]
        assert outcome["status"] == "diagnosed", outcome
        assert "is quarantined" in outcome["reason"] and "stopped by" in outcome["reason"]
        assert host.unit("ActiveState", "MainPID", "NRestarts") == before, "a quarantined unit is not touched"

        # no host read at all (here: the module refuses its arguments): whether it is quarantined is unknown
        host.sh(f"rm -f {quarantine}")
        done, outcome = operator_run(stack, "NOREAD-1", "-e", "incident_journal_lines=-1")
        assert done.returncode == 0, done.stdout[-4000:]
        assert outcome["status"] == "diagnosed", outcome
        assert "the host could not be read" in outcome["reason"] and "journal_lines" in outcome["reason"], outcome
        assert host.unit("ActiveState", "MainPID", "NRestarts") == before, "no read, no action"
    finally:
        host.sh(f"rm -f {quarantine}")


def test_two_operators_restarting_the_same_host_at_once_restart_it_once(stack):
    host = stack["host"]
    host.sh("rm -rf /var/lib/incident-remediation/restart-budget")
    if host.health() is not None:
        host.crash()
    incidents = stack["work"] / "operators"
    command = [PLAYBOOK, "-i", str(stack["inventory"]), "incident.remediation.restart", "--limit", HOST,
               "-e", "service=demo-app", "-e", f"incident_evidence_dir={incidents}"]  # fmt: skip
    env = ansible_env(INCIDENT_TIMELINE_DIR=str(incidents))
    runs = [subprocess.Popen([*command, "-e", f"incident_id=OPS-{i}"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for i in (1, 2)]  # fmt: skip
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert host.health()["status"] == "ready"
    budget = json.loads(host.sh("cat /var/lib/incident-remediation/restart-budget/demo-app.service.json").stdout)
    assert len(budget["restarts"]) == 1, f"restarted {len(budget['restarts'])} times: {budget}"
    said = "restart: not restarted again"  # (the YAML output doubles the quote of "run's")
    flat = [" ".join(out.split()) for out in outputs]  # the YAML callback folds long lines
    # the second run either waited on the first's restart, or started once the service was already healthy
    assert any(said in out for out in flat) or any("healthy, nothing to do" in out for out in flat), flat[1][-3000:]


def ready(host) -> None:
    """The service up and ready (an earlier test may have crashed it), its budget cleared."""
    host.sh(
        "rm -rf /etc/systemd/system/demo-app.service.d /var/lib/incident-remediation/restart-budget && "
        "systemctl daemon-reload && systemctl reset-failed demo-app.service; systemctl start demo-app.service"
    )
    deadline = time.monotonic() + 30
    while (host.health() or {}).get("status") != "ready":
        assert time.monotonic() < deadline, "demo-app did not become ready"
        time.sleep(0.5)


def set_faults(host, faults: dict) -> None:
    http_json(f"{host.url}/control/faults", method="POST", payload=faults)


def test_a_vacuous_expression_in_the_generator_url_does_not_pass_for_the_alert_being_over(stack):
    """The sender writes generatorURL: an expression that never returns anything must not prove the alert over.
    Prometheus' own ALERTS series for the alert's name and labels decide."""
    host = stack["host"]
    ready(host)
    _, alert = stack["sink"].wait_for_alert("DemoAppStuck")
    forged = {
        **alert,
        "generatorURL": "http://prometheus/graph?" + urllib.parse.urlencode({"g0.expr": "vector(1) == 0"}),
    }
    done, incidents = remediate(stack, forged, "vacuous", incident_verify_wait=8)
    _, events = timeline(incidents)
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert stack["prometheus"].query('ALERTS{alertname="DemoAppStuck",alertstate="firing"}'), "it still fires"
    assert outcome["status"] == "failed", f"ended {outcome['status']} while DemoAppStuck still fires: {outcome}"
    assert done.returncode != 0
    assert "ALERTS" in outcome["reason"] and "DemoAppStuck" in outcome["reason"], outcome["reason"]
    assert outcome["silence"]["state"].startswith("kept until it ends"), "still paging: the silence is kept"


def test_an_alert_still_firing_is_evidence_a_ready_service_needs_its_restart(stack):
    """DemoAppHighErrorRate, mapped to restart as the example inventory maps it: /health says ready, the alert
    fires in Prometheus; the restart is done (it clears the run-time fault) and the incident ends resolved."""
    host = stack["host"]
    ready(host)
    traffic = Traffic(f"{host.url}/").start()
    try:
        set_faults(host, {"error_rate": 1.0})
        stack["prometheus"].wait_for('ALERTS{alertname="DemoAppHighErrorRate",alertstate="firing"}', timeout=60)
        _, alert = stack["sink"].wait_for_alert("DemoAppHighErrorRate")
        assert host.health()["status"] == "ready", "the health endpoint does not see the errors"
        before = host.unit("MainPID")
        done, incidents = remediate(stack, alert, "errors", incident_verify_wait=45)
        _, events = timeline(incidents)
        outcome = next(e["data"] for e in events if e["event"] == "outcome")
        assert outcome["status"] == "resolved", (outcome, done.stdout[-4000:])
        assert done.returncode == 0
        assert host.unit("MainPID") != before, "restarted"
        assert http_json(f"{host.url}/control/faults").get("error_rate", 0) == 0, "the run-time fault is gone"
        budget = json.loads(host.sh("cat /var/lib/incident-remediation/restart-budget/demo-app.service.json").stdout)
        assert len(budget["restarts"]) == 1, budget
        checks = [c["check"] for c in outcome["verification"]]
        assert any("ALERTS" in c and "DemoAppHighErrorRate" in c for c in checks), checks
        assert not stack["prometheus"].query('ALERTS{alertname="DemoAppHighErrorRate"}'), "the alert is over"
    finally:
        traffic.stop()
        set_faults(host, {"error_rate": 0})


def test_without_a_prometheus_url_the_alert_is_said_not_checked(stack):
    """No Prometheus known: health is the fallback proof, and the record says the alert itself was not checked."""
    ready(stack["host"])
    _, alert = stack["sink"].wait_for_alert("DemoAppStuck")
    described = yaml.safe_load((stack["inventory"].parent / "group_vars" / "demo_app.yml").read_text())["services"]
    del described["demo-app"]["prometheus_url"]
    done, incidents = remediate(stack, alert, "no-prometheus", services=described)
    _, events = timeline(incidents)
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-3000:])
    said = {c["check"]: c["result"] for c in outcome["verification"]}
    assert said.get("ALERTS of DemoAppStuck", "").startswith("not checked: no Prometheus URL is known"), said


def test_an_alert_whose_state_cannot_be_read_leaves_the_restart_to_health_and_says_so(stack):
    """Prometheus unreachable: whether the alert fires is unknown; health decides (ready: no restart), said."""
    host = stack["host"]
    ready(host)
    before = host.unit("MainPID")
    _, alert = stack["sink"].wait_for_alert("DemoAppStuck")
    described = yaml.safe_load((stack["inventory"].parent / "group_vars" / "demo_app.yml").read_text())["services"]
    described["demo-app"]["prometheus_url"] = f"http://127.0.0.1:{free_port()}"
    done, incidents = remediate(stack, alert, "unreadable", services=described, incident_verify_wait=2)
    _, events = timeline(incidents)
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert outcome["status"] == "failed" and done.returncode != 0, "the alert's end is not proved"
    (preflight,) = [a["outcome"] for a in outcome["actions"] if a["step"] == "preflight"]
    assert preflight.startswith("healthy, nothing to do (whether alert DemoAppStuck still fires is unknown"), preflight
    assert "cannot reach Prometheus" in preflight and "health decides" in preflight, preflight
    assert host.unit("MainPID") == before, "not restarted on an unknown"


RELAY_UNIT = """[Unit]
Description=a relay the service depends on (seed 002 P1-003)
[Service]
ExecStart=/bin/sleep infinity
"""


def test_a_ladder_restarts_the_services_relay_first_then_the_service(stack):
    """Seed 002 P1-003: restart the relay (the service's health proves it), then the service itself. Here the relay
    is not the cause: its restart is done and verified failed, the service's restart resolves it; each rung's result
    its own (the second restart's result is not the first one's)."""
    host = stack["host"]
    ready(host)
    host.sh(f"printf '{RELAY_UNIT}' > /etc/systemd/system/relay.service && systemctl daemon-reload && "
            "systemctl start relay.service")  # fmt: skip
    try:
        relay_before, state = host.unit("MainPID", unit="relay.service")["MainPID"], crashed(stack)
        _, alert = stack["sink"].wait_for_alert("DemoAppDown")
        described = yaml.safe_load((stack["inventory"].parent / "group_vars" / "demo_app.yml").read_text())["services"]
        described["demo-app"]["units"] = ["relay.service"]
        described["demo-app"]["alerts"]["DemoAppDown"] = {
            "ladder": [{"mitigation": "restart", "options": {"unit": "relay.service"}}, "restart"]
        }
        done, incidents = remediate(stack, alert, "relay-ladder", services=described, restart_health_timeout=5)
        _, events = timeline(incidents)
        outcome = next(e["data"] for e in events if e["event"] == "outcome")
        assert outcome["status"] == "resolved" and done.returncode == 0, (outcome, done.stdout[-4000:])
        assert host.unit("MainPID", unit="relay.service")["MainPID"] != relay_before, "the relay was restarted"
        assert host.unit("MainPID")["MainPID"] != state["MainPID"], "then the service"
        rungs = outcome["ladder"]
        assert [(r["mitigation"], r["restored"]) for r in rungs] == [("restart", False), ("restart", True)], rungs
        assert rungs[0]["outcome"] == "failed" and "relay.service" in rungs[0]["message"], rungs[0]
        assert "demo-app.service" in rungs[1]["message"], rungs[1]
        assert not host.sh("ls /var/lib/incident-remediation/locks", check=False).stdout.strip(), "lease released"
    finally:
        host.sh("systemctl stop relay.service; rm -f /etc/systemd/system/relay.service; systemctl daemon-reload",
                check=False)  # fmt: skip
