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
