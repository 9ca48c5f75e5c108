"""unit_evidence: collectors that fail are reported, never fatal; health and quarantine as read.

The real unit on a real systemd host is read by tests/integration/test_incident_flow.py and the
molecule scenarios; here the machine has no running systemd, which is the failing-collector case.
"""

from __future__ import annotations

import json
import threading
import time

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


def _plant(folder, owner: str, expires_in: float) -> dict:
    now = time.time()
    held = {
        "unit": "demo-app.service",
        "owner": owner,
        "holder": "rollback from ctl2",
        "acquired": now - 5,
        "acquired_at": "2026-12-01T09:00:00Z",
        "expires": now + expires_in,
        "expires_at": "2026-12-01T10:00:00Z",
    }
    folder.mkdir(exist_ok=True)
    (folder / "demo-app.service.lease").write_text(json.dumps(held))
    return held


def test_the_lease_is_taken_then_the_host_read_in_the_same_run(run_module, tmp_path):
    locks = tmp_path / "locks"
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "holder": "restart from ctl1",
                                                                   "dir": str(locks), "wait": 0})  # fmt: skip
    assert not failed and result["changed"] and result["lease"]["acquired"], result
    assert result["lease"]["message"].startswith("lease taken by incident INC-1 until ")
    written = json.loads((locks / "demo-app.service.lease").read_text())
    assert written["owner"] == "INC-1" and written["holder"] == "restart from ctl1"
    assert "exists" in result and "quarantine" in result, "the host is read as without a lease"


def test_a_lease_held_past_the_wait_is_said_and_the_host_still_read(run_module, tmp_path):
    locks = tmp_path / "locks"
    held = _plant(locks, "INC-OTHER", expires_in=600)
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 0.2})
    assert not failed, "a lease held elsewhere does not fail the read: the caller refuses to act"
    lease = result["lease"]
    assert lease["acquired"] is False and lease["waited_for"]["owner"] == "INC-OTHER", lease
    assert lease["msg"].startswith("refused: demo-app.service on this host is locked by incident INC-OTHER")
    assert json.loads((locks / "demo-app.service.lease").read_text()) == held, "the other's lease is untouched"
    assert not result["changed"]


def test_the_host_is_read_after_waiting_for_another_runs_lease(run_module, tmp_path):
    locks = tmp_path / "locks"
    _plant(locks, "INC-OTHER", expires_in=600)
    marker = tmp_path / "demo-app.service.json"

    def the_other_run_ends():  # it quarantines the unit, then releases its lease
        time.sleep(0.6)
        marker.write_text(json.dumps({"unit": "demo-app.service", "incident": "INC-OTHER", "reason": "tamper"}))
        (locks / "demo-app.service.lease").unlink()

    other = threading.Thread(target=the_other_run_ends)
    other.start()
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 30})
    other.join()
    assert not failed and result["lease"]["acquired"] and result["lease"]["waited_for"]["owner"] == "INC-OTHER"
    assert result["quarantine"]["incident"] == "INC-OTHER", "the read saw what the waited-for run left"


def test_check_mode_takes_no_lease_and_creates_no_folder(run_module, tmp_path):
    locks = tmp_path / "locks"
    failed, result = run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path),
                                                "logs": False, "lease": {"owner": "INC-1", "dir": str(locks)}},
                                check_mode=True)  # fmt: skip
    assert not failed and result["lease"]["acquired"], "it would be taken"
    assert not locks.exists()


def test_a_lease_owner_that_is_not_an_incident_id_is_refused(run_module, tmp_path):
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "a b", "dir": str(tmp_path / "locks")})
    assert failed and "lease: owner 'a b' must be an incident id" in result["msg"], result
    assert not (tmp_path / "locks").exists()


# --- health by command (issue 23 item 2; seed 003's scripts/health_check.sh) ---------------------------------


def _executable(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_the_health_command_is_the_health_and_its_output_evidence(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", 'echo "all 12 checks passed"; exit 0\n')
    failed, result = read(run_module, tmp_path, logs=False, health_command=[check, "--quick"])
    assert not failed
    assert result["health"]["healthy"] is True and result["health"]["status"] == 0
    assert result["health"]["stdout"] == "all 12 checks passed\n" and result["health"]["command"] == [check, "--quick"]
    assert result["healthy"] is False, "the unit is not active here (no systemd): healthy needs both"


def test_a_health_command_that_fails_is_evidence_not_a_failure(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", 'echo "db: down" >&2; exit 2\n')
    failed, result = read(run_module, tmp_path, logs=False, health_command=[check])
    assert not failed
    assert result["health"]["healthy"] is False and result["health"]["status"] == 2
    assert result["health"]["error"] == f"{check} exited 2: db: down"


def test_url_and_command_both_judged(run_module, tmp_path, httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "ready", "dashboard_link": "disconnected"})
    check = _executable(tmp_path / "health_check.sh", "echo smoke failed; exit 1\n")
    failed, result = read(run_module, tmp_path, logs=False, health_url=httpserver.url_for("/health"),
                          health_expect={"status": "ready", "dashboard_link": "connected"},
                          health_command=[check])  # fmt: skip
    assert not failed and result["health"]["healthy"] is False
    assert result["health"]["json"]["dashboard_link"] == "disconnected" and result["health"]["command"]["status"] == 1
    assert result["health"]["error"] == (
        f'dashboard_link = "disconnected" (expected "connected"); {check} exited 1: smoke failed'
    )


def test_the_health_command_runs_in_check_mode_being_a_read(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", "echo read only; exit 0\n")
    failed, result = run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path),
                                                "logs": False, "health_command": [check]}, check_mode=True)  # fmt: skip
    assert not failed and result["health"]["stdout"] == "read only\n"


def test_a_bad_health_command_is_refused_and_no_lease_taken(run_module, tmp_path):
    locks = tmp_path / "locks"
    for args, words in (({"health_command": ["./health_check.sh"]}, "must be an absolute path or a bare name"),
                        ({"health_command": ["/bin/true"], "health_command_timeout": -1}, "above 0"),
                        ({"health_command": []}, None)):  # fmt: skip
        failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 0},
                              **args)  # fmt: skip
        if words is None:
            assert not failed and result["health"] == {}, "no command, no health asked"
            (locks / "demo-app.service.lease").unlink()
            continue
        assert failed and words in result["msg"] and result["msg"].endswith(": nothing read"), result
        assert not (locks / "demo-app.service.lease").exists()
