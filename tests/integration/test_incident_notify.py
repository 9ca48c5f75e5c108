"""The incident channel on a real incident: remediate.yml fixes a crashed demo-app on a real systemd host and posts
to a Slack-compatible webhook and to PagerDuty Events v2, both a local HTTP server that checks every request
(method, path, content type, the body's schema, the dedup key, the order); then with the webhook answering 500
and PagerDuty hanging, the fix still happens, both failures are recorded, and neither secret is anywhere written.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from hosts import deployed_host, host_name, image_exists, playbook, write_inventory
from monitoring import free_port
from pytest_httpserver import HTTPServer
from secret_leaks import leaks
from werkzeug import Request, Response

from incident_remediation.extravars import write_unsafe

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
ROOT = Path(__file__).resolve().parents[2]
HOST = host_name("remediation-it-notify")
SLACK_PATH = "/services/T0NOTIFY/B0NOTIFY/slack-hook-secret-4e1f"
PD_KEY = "pd-routing-key-secret-91c7"
HOSTILE = "<!channel> @here see <http://evil.example|the fix> & \x1b[2J"


class Channel:
    """Slack's and PagerDuty's endpoints on one local server; every request checked, kept in order."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
        self.requests: list[tuple[str, dict]] = []
        self.problems: list[str] = []
        self.slack_status = 200
        self.lock = threading.Lock()
        self.server.expect_request(SLACK_PATH).respond_with_handler(self.slack)
        self.server.expect_request("/v2/enqueue").respond_with_handler(self.pagerduty)
        self.server.start()

    def _body(self, request: Request, kind: str) -> dict:
        if request.method != "POST":
            self.problems.append(f"{kind}: {request.method}, not POST")
        if request.mimetype != "application/json":
            self.problems.append(f"{kind}: content type {request.content_type}")
        body = json.loads(request.get_data())
        with self.lock:
            self.requests.append((kind, body))
        return body

    def slack(self, request: Request) -> Response:
        body = self._body(request, "slack")
        text = body.get("text")
        if set(body) != {"text"} or not isinstance(text, str) or not 0 < len(text) <= 3000:
            self.problems.append(f"slack: not an incoming webhook's JSON: {body}")
        elif "<!" in text or "<http" in text or "@here" in text or "\x1b" in text:
            self.problems.append(f"slack: alert text acts in the channel: {text!r}")
        return Response("ok" if self.slack_status == 200 else "boom", self.slack_status)

    def pagerduty(self, request: Request) -> Response:
        body = self._body(request, "pagerduty")
        action = body.get("event_action")
        allowed = {"routing_key", "event_action", "dedup_key", "payload", "client"}
        if (
            body.get("routing_key") != PD_KEY
            or action not in ("trigger", "acknowledge", "resolve")
            or set(body) - allowed
        ):
            self.problems.append(f"pagerduty: not an Events v2 event: {sorted(body)} {action}")
        if action == "trigger":
            payload = body.get("payload") or {}
            if not (isinstance(payload.get("summary"), str) and 0 < len(payload["summary"]) <= 1024
                    and payload.get("source") and payload.get("severity") in ("critical", "error", "warning", "info")
                    and isinstance(payload.get("custom_details"), dict)):  # fmt: skip
                self.problems.append(f"pagerduty: trigger without its payload: {payload}")
        answer = {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
        return Response(json.dumps(answer), 202, content_type="application/json")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("notify")
    channel = Channel()
    (work / "slack-url").write_text(channel.url(SLACK_PATH) + "\n")
    try:
        with deployed_host(HOST, work / "inventory", free_port()) as (host, _):
            # the service maps the alert to a restart, as an operator's inventory does
            inventory = write_inventory(work / "inventory", [HOST], {"alerts": {"DemoAppDown": "restart"}})
            yield {"work": work, "host": host, "inventory": inventory, "channel": channel}
    finally:
        channel.stop()


def alert(name: str) -> dict:
    """DemoAppDown as Alertmanager posts it, a hostile label and the deployed version among its labels."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "DemoAppDown",
            "severity": "critical",
            "instance": f"{HOST}:8080",
            "version": "v2.7.1",
            "note": HOSTILE,
        },
        "annotations": {"summary": "demo-app is down @channel"},
        "startsAt": "2026-12-01T19:30:00Z",
        "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:16],
        "generatorURL": "",
    }


def remediate(stack, name: str, notify: list[dict], *extra: str):
    """remediate.yml for DemoAppDown (mapped to restart) on the crashed host; its outcome from the timeline."""
    stack["host"].crash()
    incidents = stack["work"] / name
    alert_file = write_unsafe(stack["work"] / f"{name}.json", {"alert": alert(name)})
    variables = {"incident_evidence_dir": str(incidents), "incident_notify": notify}
    done = playbook(
        stack["inventory"], "incident.remediation.remediate", "--limit", HOST, "-e", f"@{alert_file}",
        "-e", json.dumps(variables), *extra, INCIDENT_TIMELINE_DIR=str(incidents), NOTIFY_TEST_PD_KEY=PD_KEY,
    )  # fmt: skip
    (folder,) = [p for p in incidents.iterdir() if (p / "timeline.jsonl").exists()]
    events = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    return done, folder, next(e["data"] for e in events if e["event"] == "outcome")


def targets(stack, pd_url: str, timeout: float = 5) -> list[dict]:
    return [
        {"kind": "slack", "name": "inc-channel", "url_file": str(stack["work"] / "slack-url"), "timeout": timeout},
        {
            "kind": "pagerduty",
            "name": "pd",
            "routing_key_env": "NOTIFY_TEST_PD_KEY",
            "url": pd_url,
            "timeout": timeout,
        },
    ]


def test_the_incident_is_posted_at_each_step_in_order(stack):
    channel = stack["channel"]
    channel.requests.clear()
    done, folder, outcome = remediate(stack, "posted", targets(stack, channel.url("/v2/enqueue")))
    assert done.returncode == 0, done.stdout[-5000:]
    assert outcome["status"] == "resolved" and stack["host"].health()["status"] == "ready", outcome
    assert channel.problems == []

    kinds = [(kind, body.get("event_action")) for kind, body in channel.requests]
    assert kinds == [("slack", None), ("pagerduty", "trigger"), ("slack", None), ("pagerduty", "acknowledge"),
                     ("slack", None), ("slack", None), ("pagerduty", "resolve")], kinds  # fmt: skip
    assert {body["dedup_key"] for kind, body in channel.requests if kind == "pagerduty"} == {folder.name}
    texts = [body["text"] for kind, body in channel.requests if kind == "slack"]
    assert "acknowledged alert *DemoAppDown*" in texts[0] and "deploy version: v2.7.1" in texts[0]
    assert "&lt;!channel&gt; @\u200bhere" in texts[0] and "\\x1b[2J" in texts[0], "alert text shown, inert"
    assert "decision: act: restart for DemoAppDown" in texts[1]
    assert "rung 1 of 1, restart (fixed) restored the service" in texts[2]
    assert f"*Incident {folder.name}*" in texts[3] and ": resolved: verified healthy" in texts[3]
    trigger = channel.requests[1][1]["payload"]
    assert trigger["severity"] == "critical" and trigger["source"] == HOST and trigger["component"] == "demo-app"
    assert (
        trigger["custom_details"]["labels"]["note"] == "<!channel> @here see <http://evil.example|the fix> & \\x1b[2J"
    )

    assert [(n["name"], n["event"], n["status"]) for n in outcome["notifications"]] == [
        ("inc-channel", "acknowledge", "ok"), ("pd", "acknowledge", "ok"), ("inc-channel", "decision", "ok"),
        ("pd", "decision", "ok"), ("inc-channel", "rung", "ok"), ("inc-channel", "outcome", "ok"),
        ("pd", "outcome", "ok")]  # fmt: skip
    assert leaks(folder, done.stdout + done.stderr, [SLACK_PATH.rsplit("/", 1)[-1], PD_KEY]) == []


def test_a_notifier_that_fails_or_hangs_never_blocks_the_fix(stack):
    channel = stack["channel"]
    channel.requests.clear()
    channel.slack_status = 500
    hanging = socket.create_server(("127.0.0.1", 0))  # PagerDuty's stand-in: takes the connection, never answers
    try:
        pd_url = f"http://127.0.0.1:{hanging.getsockname()[1]}/v2/enqueue"
        done, folder, outcome = remediate(stack, "failing", targets(stack, pd_url, timeout=1), "-vv")
    finally:
        hanging.close()
        channel.slack_status = 200
    assert done.returncode == 0, done.stdout[-5000:]
    assert outcome["status"] == "resolved" and stack["host"].health()["status"] == "ready", "the fix happened"
    by_target = {(n["name"], n["event"]): n for n in outcome["notifications"]}
    assert {n["status"] for n in outcome["notifications"]} == {"failed"}
    assert by_target["inc-channel", "acknowledge"]["reason"] == "HTTP 500: boom (2 attempts)"
    assert by_target["pd", "acknowledge"]["reason"] == "timed out after 1 s (2 attempts)"
    assert len(by_target) == 7 and len(channel.requests) == 8, "each Slack post tried once more"
    timeline = (folder / "timeline.jsonl").read_text()
    assert "notified acknowledge: inc-channel failed (HTTP 500: boom (2 attempts))" in timeline
    assert leaks(folder, done.stdout + done.stderr, [SLACK_PATH.rsplit("/", 1)[-1], PD_KEY]) == []
    assert PD_KEY not in Path(stack["work"] / "failing.json").read_text()


def test_through_the_front_no_secret_reaches_a_job_record(stack):
    """`remediate run` (ansible-runner: job events, fact cache, artifacts, the journal): the secrets as files."""
    channel, work = stack["channel"], stack["work"]
    channel.requests.clear()
    channel.slack_status = 500
    (work / "pd-key").write_text(PD_KEY + "\n")
    settings = work / "remediate.yml"
    settings.write_text(json.dumps({"inventory": str(stack["inventory"]), "ansible_config": str(ROOT / "ansible.cfg"),
                                    "data_dir": str(work / "data"), "routes": []}))  # fmt: skip
    notify = [
        {"kind": "slack", "url_file": str(work / "slack-url"), "events": ["outcome"]},
        {"kind": "pagerduty", "routing_key_file": str(work / "pd-key"), "url": channel.url("/v2/enqueue")},
    ]
    stack["host"].crash()
    try:
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "remediate"), "--config", str(settings), "run", "restart", "--limit", HOST,
             "--service", "demo-app", "-e", json.dumps({"incident_notify": notify})],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        channel.slack_status = 200
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert stack["host"].health()["status"] == "ready"
    assert [body.get("event_action") for kind, body in channel.requests if kind == "pagerduty"] == [
        "trigger", "acknowledge", "resolve"]  # fmt: skip
    (timeline,) = (work / "data").rglob("timeline.jsonl")
    outcome = next(json.loads(line)["data"] for line in timeline.read_text().splitlines() if '"outcome"' in line)
    assert [(n["kind"], n["event"], n["status"]) for n in outcome["notifications"]] == [
        ("pagerduty", "acknowledge", "ok"), ("pagerduty", "decision", "ok"), ("slack", "outcome", "failed"),
        ("pagerduty", "outcome", "ok")]  # fmt: skip
    assert list((work / "data").rglob("job_events/*.json")), "the job's events are among what is searched"
    assert leaks(work / "data", done.stdout + done.stderr, [SLACK_PATH.rsplit("/", 1)[-1], PD_KEY]) == []
