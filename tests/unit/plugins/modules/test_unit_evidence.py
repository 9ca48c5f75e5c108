"""unit_evidence: collectors that fail are reported, never fatal; health and quarantine as read.

The real unit on a real systemd host is read by tests/integration/test_incident_flow.py and the
molecule scenarios; here the machine has no running systemd, which is the failing-collector case.
"""

from __future__ import annotations

import json

from ansible_collections.incident.remediation.plugins.modules import unit_evidence


def read(run_module, tmp_path, **args):
    return run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path), **args})


def test_a_host_without_systemd_is_evidence_not_a_failure(run_module, tmp_path):
    failed, result = read(run_module, tmp_path)
    assert not failed and not result["changed"]
    assert result["exists"] is False and result["healthy"] is False
    assert set(result["logs"]) == {"journal", "status", "dmesg"}
    assert result["errors"], "what could not be read is said"
    assert result["quarantine"] is None


def test_health_is_judged_like_http_health(run_module, tmp_path, httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "starting"}, status=503)
    failed, result = read(run_module, tmp_path, logs=False, health_url=httpserver.url_for("/health"),
                          health_expect={"status": "ready"})  # fmt: skip
    assert not failed and result["logs"] == {}
    assert result["health"]["healthy"] is False and result["health"]["json"] == {"status": "starting"}
    assert "HTTP 503" in result["health"]["error"] and 'status = "starting"' in result["health"]["error"]


def test_a_quarantine_file_is_returned(run_module, tmp_path):
    marker = {"unit": "demo-app.service", "incident": "INC-1", "since": "2026-11-23T22:00:00", "reason": "tamper"}
    (tmp_path / "demo-app.service.json").write_text(json.dumps(marker))
    _, result = read(run_module, tmp_path, logs=False)
    assert result["quarantine"] == marker


def test_a_quarantine_file_that_is_not_json_still_quarantines(run_module, tmp_path):
    (tmp_path / "demo-app.service.json").write_text("stopped by hand, ask Kim")
    _, result = read(run_module, tmp_path, logs=False)
    assert "stopped by hand, ask Kim" in result["quarantine"]["reason"]


def test_a_unit_name_that_is_not_one_is_refused(run_module, tmp_path):
    failed, result = read(run_module, tmp_path, unit="demo; rm -rf /")
    assert failed and "is not a systemd unit name" in result["msg"]


def test_a_quarantine_file_that_is_not_utf8_still_quarantines(run_module, tmp_path):
    (tmp_path / "demo-app.service.json").write_bytes(b"stopped by \xff\xfe hand")
    failed, result = read(run_module, tmp_path, logs=False)
    assert not failed
    assert "stopped by" in result["quarantine"]["reason"] and "hand" in result["quarantine"]["reason"]


def test_a_health_answer_cut_short_is_evidence_not_a_crash(run_module, tmp_path, short_answer):
    failed, result = read(run_module, tmp_path, logs=False, health_url=short_answer, health_expect={"status": "ready"})
    assert not failed
    assert result["health"]["healthy"] is False and "incomplete answer" in result["health"]["error"]
    assert result["quarantine"] is None
