"""service_restart: the budget decides before anything is restarted; check mode; bad input.

The restart itself (reset-failed, restart, health) runs on real systemd hosts: the restart role's
molecule scenario and tests/integration/test_incident_flow.py.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time

from ansible_collections.incident.remediation.plugins.modules import service_restart


def restart(run_module, state_dir, check_mode=False, **extra):
    args = {"unit": "demo-app.service", "state_dir": str(state_dir), "reason": "INC-2", **extra}
    return run_module(service_restart, args, check_mode=check_mode)


def spent(state_dir, count=3):
    (state_dir / "demo-app.service.json").write_text(
        json.dumps({"unit": "demo-app.service", "restarts": [{"at": time.time(), "reason": "earlier"}] * count})
    )


def test_a_spent_budget_restarts_nothing_and_says_so(run_module, tmp_path):
    spent(tmp_path)
    failed, result = restart(run_module, tmp_path)
    assert not failed and not result["changed"]
    assert (result["allowed"], result["restarted"], result["healthy"]) == (False, False, False)
    assert result["message"] == "restart budget exhausted (3 in the last 15 min): not restarted"
    assert len(json.loads((tmp_path / "demo-app.service.json").read_text())["restarts"]) == 3


def test_check_mode_reports_and_records_nothing(run_module, tmp_path):
    failed, result = restart(run_module, tmp_path, check_mode=True)
    assert not failed and result["changed"] and result["allowed"] and not result["restarted"]
    assert result["message"].startswith("restart allowed (1 of 3 in the last 15 min): would restart")
    assert not (tmp_path / "demo-app.service.json").exists()


def test_a_restart_that_systemd_refuses_is_not_healthy_in_its_words(run_module, tmp_path):
    failed, result = restart(run_module, tmp_path)  # this machine has no running systemd
    assert not failed and result["changed"] and (result["restarted"], result["healthy"]) == (False, False)
    assert result["message"].startswith("systemctl restart demo-app.service failed")
    assert result["budget"]["used"] == 1, "the restart was taken from the budget before trying"


def test_bad_input_is_refused_before_the_budget(run_module, tmp_path):
    for args, words in (({"unit": "../x"}, "not a systemd unit name"), ({"max_restarts": 0}, "at least 1"),
                        ({"health_interval": 0}, "health_interval above 0")):  # fmt: skip
        failed, result = restart(run_module, tmp_path, **args)
        assert failed and words in result["msg"]
    assert not (tmp_path / "demo-app.service.json").exists()


def test_a_run_that_waited_for_another_runs_restart_does_not_restart_again(run_module, tmp_path, httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "ready"})
    held = open(tmp_path / ".demo-app.service.restart.lock", "a+")  # noqa: SIM115  (the other run's lock)
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(0.5, held.close).start()  # the other run's restart ends
    started = time.monotonic()
    failed, result = restart(run_module, tmp_path, health_url=httpserver.url_for("/health"),
                             health_expect={"status": "ready"})  # fmt: skip
    assert time.monotonic() - started >= 0.4, "it waited for the other run"
    assert not failed and not result["changed"], result
    assert (result["restarted"], result["healthy"]) == (False, True)
    assert result["message"] == "healthy after another run's restart: not restarted again"
    assert not (tmp_path / "demo-app.service.json").exists(), "no restart taken from the budget"


def test_check_mode_creates_neither_the_budget_folder_nor_a_lock_file(run_module, tmp_path):
    folder = tmp_path / "restart-budget"
    failed, result = restart(run_module, folder, check_mode=True)
    assert not failed and result["allowed"] and not result["restarted"]
    assert not folder.exists(), "check mode created the budget folder"
    spent(tmp_path, count=1)
    before = sorted(p.name for p in tmp_path.iterdir())
    failed, result = restart(run_module, tmp_path, check_mode=True)
    assert not failed and result["budget"]["used"] == 2, "the budget is read as the real run would"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no lock file left behind"


def _lease(folder, owner: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "demo-app.service.lease").write_text(json.dumps({"unit": "demo-app.service", "owner": owner,
                                                               "expires": time.time() + 600}))  # fmt: skip


def test_the_incidents_lease_is_released_whatever_the_restart_answers(run_module, tmp_path):
    locks = tmp_path / "locks"
    for setup, words in ((lambda: None, "systemctl restart demo-app.service failed"),  # no systemd here
                         (lambda: spent(tmp_path), "restart budget exhausted")):  # fmt: skip
        _lease(locks, "INC-2")
        setup()
        failed, result = restart(run_module, tmp_path, release_lease={"owner": "INC-2", "dir": str(locks)})
        assert not failed and words in result["message"], result
        assert result["released"]["message"] == "lease of incident INC-2 released", result
        assert not (locks / "demo-app.service.lease").exists()


def test_a_lease_another_incident_holds_now_is_not_released(run_module, tmp_path):
    locks = tmp_path / "locks"
    _lease(locks, "INC-OTHER")  # ours expired and was taken over
    _, result = restart(run_module, tmp_path, release_lease={"owner": "INC-2", "dir": str(locks)})
    assert not result["released"]["changed"] and "not released" in result["released"]["message"], result
    assert json.loads((locks / "demo-app.service.lease").read_text())["owner"] == "INC-OTHER"


def test_a_refused_input_releases_no_lease_by_a_path_it_names(run_module, tmp_path):
    locks = tmp_path / "locks"
    _lease(locks, "INC-2")
    for args, words in (({"unit": "../x"}, "not a systemd unit name"), ({"release_lease": {"owner": "a b",
                        "dir": str(locks)}}, "release_lease: owner 'a b' must be an incident id")):  # fmt: skip
        failed, result = restart(run_module, tmp_path, **{"release_lease": {"owner": "INC-2", "dir": str(locks)},
                                                          **args})  # fmt: skip
        assert failed and words in result["msg"] and "released" not in result, result
    assert (locks / "demo-app.service.lease").exists()


def test_check_mode_releases_nothing(run_module, tmp_path):
    locks = tmp_path / "locks"
    _lease(locks, "INC-2")
    _, result = restart(run_module, tmp_path, check_mode=True, release_lease={"owner": "INC-2", "dir": str(locks)})
    assert result["released"]["changed"] and (locks / "demo-app.service.lease").exists()


# --- health by command (issue 23 item 2; seed 003's scripts/health_check.sh) ---------------------------------


def _executable(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _fake_systemctl(tmp_path, monkeypatch) -> None:
    """A systemctl that restarts (exit 0) and records its calls: this machine has no running systemd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "systemctl", f'echo "$*" >> {tmp_path}/systemctl.calls\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_after_the_restart_the_health_command_is_polled_until_it_exits_0(run_module, tmp_path, monkeypatch):
    _fake_systemctl(tmp_path, monkeypatch)
    runs = tmp_path / "runs"
    check = _executable(tmp_path / "health_check.sh",
                        f'echo x >> {runs}\n[ "$(wc -l < {runs})" -ge 3 ] && {{ echo ready; exit 0; }}\n'
                        'echo "starting" >&2; exit 1\n')  # fmt: skip
    failed, result = restart(run_module, tmp_path / "budget", health_command=[check], health_interval=0.05,
                             health_wait=5)  # fmt: skip
    assert not failed and result["changed"], result
    assert (result["restarted"], result["healthy"]) == (True, True)
    assert result["health"]["status"] == 0 and result["health"]["stdout"] == "ready\n"
    assert result["health"]["command"] == [check]
    assert len(runs.read_text().splitlines()) == 3, "polled like the URL, until healthy"
    assert result["message"].startswith("restarted, healthy after ")
    assert "restart demo-app.service" in (tmp_path / "systemctl.calls").read_text()


def test_a_health_command_that_keeps_failing_is_not_healthy_in_its_words(run_module, tmp_path, monkeypatch):
    _fake_systemctl(tmp_path, monkeypatch)
    check = _executable(tmp_path / "health_check.sh", 'echo "dashboard_link disconnected" >&2\nexit 1\n')
    failed, result = restart(run_module, tmp_path / "budget", health_command=[check, "--all"], health_interval=0.05,
                             health_wait=0.3)  # fmt: skip
    assert not failed and (result["restarted"], result["healthy"]) == (True, False)
    assert result["health"]["status"] == 1
    assert result["message"].startswith("restarted but not healthy after ")
    assert result["message"].endswith(f"({check} --all): {check} exited 1: dashboard_link disconnected")


def test_a_health_command_that_hangs_is_killed_at_its_timeout(run_module, tmp_path, monkeypatch):
    _fake_systemctl(tmp_path, monkeypatch)
    check = _executable(tmp_path / "health_check.sh", "sleep 30\n")
    started = time.monotonic()
    failed, result = restart(run_module, tmp_path / "budget", health_command=[check], health_command_timeout=0.3,
                             health_wait=0)  # fmt: skip
    assert time.monotonic() - started < 5
    assert not failed and not result["healthy"] and result["health"]["timed_out"] is True
    assert f"{check} did not finish within 0.3 s: killed" in result["message"]


def test_a_bad_health_command_is_refused_before_the_budget(run_module, tmp_path):
    for args, words in (({"health_command": ["scripts/health_check.sh"]}, "must be an absolute path or a bare name"),
                        ({"health_command": ["/bin/true"], "health_command_timeout": 0}, "above 0"),
                        ({"health_command": ["no-such-check-anywhere"]}, "is not found on PATH")):  # fmt: skip
        failed, result = restart(run_module, tmp_path, **args)
        assert failed and words in result["msg"] and result["msg"].endswith(": not restarted"), result
    assert not (tmp_path / "demo-app.service.json").exists()


def test_check_mode_does_not_run_the_health_command(run_module, tmp_path):
    ran = tmp_path / "ran"
    check = _executable(tmp_path / "health_check.sh", f"touch {ran}\n")
    failed, result = restart(run_module, tmp_path / "budget", check_mode=True, health_command=[check])
    assert not failed and result["allowed"] and not result["restarted"]
    assert not ran.exists()
