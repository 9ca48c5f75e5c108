"""The AWX job-launch client against a local HTTP server that checks every request (no AWX runs here)."""

from __future__ import annotations

import json

import pytest
import yaml
from werkzeug import Response

from incident_remediation.awx import AwxLauncher, AwxSettings
from incident_remediation.config import load
from incident_remediation.errors import ConfigError

TOKEN = "awx-oauth2-token"


def job(check=False, playbook="incident.remediation.remediate"):
    variables = {
        "alert": {"labels": {"alertname": "Down", "note": "{{ lookup('pipe', 'id') }}"}},
        "incident_id": "INC-1",
    }
    return {"id": "j1", "playbook": playbook, "target": "web1", "check_mode": int(check),
            "extravars": json.dumps(variables)}  # fmt: skip


def launcher(server, **settings):
    base = {"url": server.url_for("/"), "token": TOKEN, "job_templates": {"incident.remediation.remediate": 42},
            "poll_seconds": 0}  # fmt: skip
    return AwxLauncher(AwxSettings(**{**base, **settings}), sleep=lambda _: None)


def expect_launch(server, answer=None, status=200, check=False):
    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = request.get_json()
        assert body["limit"] == "web1" and body["job_type"] == ("check" if check else "run")
        assert body["extra_vars"]["alert"]["labels"]["note"] == "{{ lookup('pipe', 'id') }}"
        assert body["extra_vars"]["incident_id"] == "INC-1"
        return Response(json.dumps(answer or {"job": 7, "ignored_fields": {}}), status=status,
                        content_type="application/json")  # fmt: skip

    server.expect_ordered_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(handler)


def test_launch_then_poll_until_successful(httpserver):
    expect_launch(httpserver)
    for status in ("pending", "running", "successful"):
        httpserver.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_json({"status": status})
    assert launcher(httpserver)(None, job()) == ("succeeded", 0, "")
    httpserver.check_assertions()


def test_check_mode_launches_a_check_job(httpserver):
    expect_launch(httpserver, check=True)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "successful"})
    assert launcher(httpserver)(None, job(check=True))[0] == "succeeded"
    httpserver.check_assertions()


def test_a_failed_awx_job_fails_with_its_explanation(httpserver):
    expect_launch(httpserver)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json(
        {"status": "error", "job_explanation": "Previous Task Failed"}
    )
    assert launcher(httpserver)(None, job()) == ("failed", 1, "AWX job 7 error: Previous Task Failed")


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        ({"detail": "Authentication credentials were not provided."}, 401, 'HTTP 401: {"detail"'),
        ({"job": 7, "ignored_fields": {"limit": "web1"}}, 201, "AWX ignored ['limit']: enable prompting on launch"),
    ],
)
def test_launch_refusals_are_explained(httpserver, answer, status, reason):
    expect_launch(httpserver, answer=answer, status=status)
    state, rc, message = launcher(httpserver)(None, job())
    assert (state, rc) == ("failed", -1) and reason in message


def test_no_template_for_the_playbook_and_unreachable_awx(httpserver):
    assert launcher(httpserver)(None, job(playbook="other.yml"))[2] == (
        "no AWX job template for playbook other.yml (awx.job_templates)")  # fmt: skip
    dead = AwxLauncher(AwxSettings(url="http://127.0.0.1:9", token=TOKEN, job_templates={"p": 1}))
    assert "AWX at http://127.0.0.1:9 cannot be reached" in dead(None, job(playbook="p"))[2]


def test_a_job_that_never_ends_times_out(httpserver):
    expect_launch(httpserver)
    httpserver.expect_request("/api/v2/jobs/7/").respond_with_json({"status": "running"})
    state, _, reason = launcher(httpserver, timeout_seconds=0.2)(None, job())
    assert state == "failed" and "did not finish within 0.2 s" in reason


def test_awx_config(tmp_path, monkeypatch):
    route = {"name": "r", "alertname": "A", "playbook": "p"}
    (tmp_path / "awx-token").write_text("from-file\n")
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump({"routes": [route], "awx": {"url": "https://awx", "token_file": "awx-token",
                                                              "job_templates": {"p": 42}}}))  # fmt: skip
    monkeypatch.delenv("REMEDIATE_AWX_TOKEN", raising=False)
    settings = load(good).awx_settings()
    assert (settings.url, settings.token, settings.job_templates) == ("https://awx", "from-file", {"p": 42})
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"routes": [route], "awx": {"url": "awx", "job_templates": {}}}))
    with pytest.raises(ConfigError, match=r"awx\.url: must be an http"):
        load(bad)
