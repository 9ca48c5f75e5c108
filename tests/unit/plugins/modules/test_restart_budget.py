"""restart_budget: the window, the refusal, check mode, the lock under concurrency, bad input."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time

import pytest
from ansible_collections.incident.remediation.plugins.modules import restart_budget


def spend(run_module, state_dir, check_mode=False, **extra):
    args = {"unit": "demo-app.service", "spend": True, "state_dir": str(state_dir), "reason": "INC-1", **extra}
    return run_module(restart_budget, args, check_mode=check_mode)


def test_three_restarts_then_refusal(tmp_path, run_module):
    for used in (1, 2, 3):
        failed, result = spend(run_module, tmp_path)
        assert not failed and result["allowed"] and result["changed"]
        assert (result["used"], result["remaining"]) == (used, 3 - used)
    failed, result = spend(run_module, tmp_path)
    assert not failed, "an exhausted budget is a verdict, not a module failure"
    assert (result["allowed"], result["changed"], result["used"]) == (False, False, 3)
    assert result["message"] == "restart budget exhausted (3 in the last 15 min)"
    assert result["next_allowed_at"] == pytest.approx(result["restarts"][0]["at"] + 900)
    stored = json.loads((tmp_path / "demo-app.service.json").read_text())
    assert [r["reason"] for r in stored["restarts"]] == ["INC-1"] * 3


def test_old_restarts_leave_the_window(tmp_path, run_module):
    old = time.time() - 901
    (tmp_path / "demo-app.service.json").write_text(
        json.dumps({"unit": "demo-app.service", "restarts": [{"at": old, "reason": "old"}] * 3})
    )
    failed, result = spend(run_module, tmp_path)
    assert not failed and result["allowed"] and result["used"] == 1
    assert [r["reason"] for r in result["restarts"]] == ["INC-1"]


def test_check_mode_spends_nothing(tmp_path, run_module):
    failed, result = spend(run_module, tmp_path, check_mode=True)
    assert not failed and result["allowed"] and result["changed"]
    assert not (tmp_path / "demo-app.service.json").exists()


def test_reading_does_not_spend(tmp_path, run_module):
    spend(run_module, tmp_path)
    failed, result = spend(run_module, tmp_path, spend=False)
    assert not failed and not result["changed"] and result["used"] == 1
    assert result["message"] == "restart allowed (1 of 3 in the last 15 min)"


def _spend_in_process(state_dir, queue):
    code = (
        "import json,sys;"
        "from ansible.module_utils.testing import patch_module_args;"
        "from ansible_collections.incident.remediation.plugins.modules import restart_budget;"
        f"args={{'unit':'demo-app.service','spend':True,'state_dir':{str(state_dir)!r}}};"
        "ctx=patch_module_args(args);ctx.__enter__();restart_budget.main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": ":".join(sys.path)})  # fmt: skip
    queue.put(json.loads(done.stdout)["allowed"])


def test_concurrent_spenders_never_exceed_the_budget(tmp_path):
    queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_spend_in_process, args=(tmp_path, queue)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    verdicts = [queue.get(timeout=5) for _ in workers]
    assert verdicts.count(True) == 3 and verdicts.count(False) == 5
    assert len(json.loads((tmp_path / "demo-app.service.json").read_text())["restarts"]) == 3


@pytest.mark.parametrize(
    ("unit", "message"),
    [("../etc/passwd", "is not a systemd unit name"), ("a b.service", "is not a systemd unit name"), ("", "")],
)
def test_bad_unit_names_are_refused(tmp_path, run_module, unit, message):
    failed, result = spend(run_module, tmp_path, unit=unit or "x\n.service")
    assert failed and "is not a systemd unit name" in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_corrupt_budget_file_is_a_clear_error(tmp_path, run_module):
    (tmp_path / "demo-app.service.json").write_text("{not json")
    failed, result = spend(run_module, tmp_path)
    assert failed and "is not valid JSON" in result["msg"] and "move it aside" in result["msg"]


def test_zero_budget_is_refused(tmp_path, run_module):
    failed, result = spend(run_module, tmp_path, max_restarts=0)
    assert failed and "at least 1" in result["msg"]


def test_one_escalation_per_window_beside_the_restarts(tmp_path, run_module):
    for _ in range(3):
        spend(run_module, tmp_path)
    failed, first = spend(run_module, tmp_path, escalation=True, reason="INC-1: budget exhausted")
    assert not failed and first["allowed"] and first["changed"]
    assert first["message"] == "escalation allowed (none in the last 15 min)"
    failed, second = spend(run_module, tmp_path, escalation=True, reason="INC-2")
    assert not failed and (second["allowed"], second["changed"]) == (False, False)
    assert second["message"].startswith("already escalated in the last 15 min (at 20")
    assert second["message"].endswith("Z, INC-1: budget exhausted)")
    stored = json.loads((tmp_path / "demo-app.service.json").read_text())
    assert len(stored["restarts"]) == 3, "taking the escalation keeps the restarts"
    assert [e["reason"] for e in stored["escalations"]] == ["INC-1: budget exhausted"]
    failed, restart = spend(run_module, tmp_path)
    assert not restart["allowed"] and len(restart["escalations"]) == 1, "a restart keeps the escalation"


def test_an_escalation_leaves_the_window(tmp_path, run_module):
    old = time.time() - 901
    (tmp_path / "demo-app.service.json").write_text(
        json.dumps({"unit": "demo-app.service", "restarts": [], "escalations": [{"at": old, "reason": "old"}]})
    )
    failed, result = spend(run_module, tmp_path, escalation=True)
    assert not failed and result["allowed"] and [e["reason"] for e in result["escalations"]] == ["INC-1"]


def test_checking_an_escalation_records_nothing(tmp_path, run_module):
    failed, result = spend(run_module, tmp_path, escalation=True, check_mode=True)
    assert not failed and result["allowed"] and not (tmp_path / "demo-app.service.json").exists()
