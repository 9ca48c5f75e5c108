"""unit_lock: one lease per unit, a bounded wait naming the holder, expired leases taken over, check mode.

The lease on a real systemd host, between two real runs of the incident role: tests/integration/test_unit_lock.py.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

from ansible_collections.incident.remediation.plugins.module_utils import lease as leases
from ansible_collections.incident.remediation.plugins.modules import unit_lock

UNIT = "demo-app.service"


def lock(run_module, folder, owner="INC-1", check_mode=False, **extra):
    args = {"unit": UNIT, "owner": owner, "holder": "restart from ctl1", "dir": str(folder), "wait": 0, **extra}
    return run_module(unit_lock, args, check_mode=check_mode)


def planted(folder, owner="INC-OTHER", expires_in=600.0):
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    lease = {"unit": UNIT, "owner": owner, "holder": "rollback from ctl2", "acquired": now - 5,
             "acquired_at": "2026-12-01T09:00:00Z", "expires": now + expires_in,
             "expires_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    (folder / f"{UNIT}.lease").write_text(json.dumps(lease))
    return lease


def test_a_free_unit_is_locked_and_released(run_module, tmp_path):
    failed, result = lock(run_module, tmp_path, ttl=60)
    assert not failed and result["changed"] and result["acquired"], result
    written = json.loads((tmp_path / f"{UNIT}.lease").read_text())
    assert written["owner"] == "INC-1" and written["holder"] == "restart from ctl1"
    assert 59 <= written["expires"] - time.time() <= 60, "an expiry time, not a process id"
    assert result["previous"] is None and result["waited_for"] is None
    failed, result = lock(run_module, tmp_path, state="absent")
    assert not failed and result["changed"] and not (tmp_path / f"{UNIT}.lease").exists()
    failed, result = lock(run_module, tmp_path, state="absent")
    assert not failed and not result["changed"] and result["message"] == "no lease to release"


def test_a_lease_held_by_another_incident_is_waited_for_then_refused_naming_it(run_module, tmp_path):
    held = planted(tmp_path)
    started = time.monotonic()
    failed, result = lock(run_module, tmp_path, wait=1)
    assert time.monotonic() - started >= 1, "it waited the bound"
    assert failed and not result["acquired"]
    said = f"refused: {UNIT} on this host is locked by incident INC-OTHER (rollback from ctl2)"
    assert result["msg"].startswith(said), result["msg"]
    assert "since 2026-12-01T09:00:00Z, until 2026-12-01T10:00:00Z" in result["msg"] and "waited 1" in result["msg"]
    assert json.loads((tmp_path / f"{UNIT}.lease").read_text()) == held, "the other's lease is untouched"


def test_a_lease_released_while_waiting_is_taken_and_says_whom_it_waited_for(run_module, tmp_path):
    planted(tmp_path)
    threading.Timer(0.7, (tmp_path / f"{UNIT}.lease").unlink).start()  # the other run ends
    failed, result = lock(run_module, tmp_path, wait=10)
    assert not failed and result["acquired"] and 0.5 <= result["waited"] < 5, result
    assert result["waited_for"]["owner"] == "INC-OTHER" and "after waiting" in result["message"]


def test_an_expired_lease_is_taken_over_and_says_so(run_module, tmp_path):
    planted(tmp_path, expires_in=-1)
    failed, result = lock(run_module, tmp_path)
    assert not failed and result["acquired"] and result["previous"]["owner"] == "INC-OTHER"
    assert result["message"].startswith("lease taken over from incident INC-OTHER (rollback from ctl2)")
    assert "that run is gone" in result["message"]
    assert json.loads((tmp_path / f"{UNIT}.lease").read_text())["owner"] == "INC-1"


def test_the_same_incident_takes_its_own_lease_again(run_module, tmp_path):
    planted(tmp_path, owner="INC-1")
    failed, result = lock(run_module, tmp_path)
    assert not failed and result["acquired"] and result["previous"] is None and result["waited_for"] is None


def test_a_release_never_removes_another_incidents_lease(run_module, tmp_path):
    planted(tmp_path)
    failed, result = lock(run_module, tmp_path, state="absent")
    assert not failed and not result["changed"] and "ours expired" in result["message"]
    assert (tmp_path / f"{UNIT}.lease").exists()


def test_check_mode_writes_nothing_and_creates_no_folder(run_module, tmp_path):
    folder = tmp_path / "locks"
    failed, result = lock(run_module, folder, check_mode=True)
    assert not failed and result["acquired"]
    assert not folder.exists(), "check mode created the lock folder"
    planted(folder)
    before = sorted(p.name for p in folder.iterdir())
    failed, result = lock(run_module, folder, check_mode=True)
    assert failed and "locked by incident INC-OTHER" in result["msg"], "it says what the real run would meet"
    lock(run_module, folder, owner="INC-OTHER", state="absent", check_mode=True)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_lease_file_it_did_not_write_is_refused_not_ignored(run_module, tmp_path):
    (tmp_path / f"{UNIT}.lease").write_bytes(b"\xff not json")
    failed, result = lock(run_module, tmp_path)
    assert failed and "is not one this module wrote" in result["msg"] and "move it aside" in result["msg"]


def test_bad_input_is_refused(run_module, tmp_path):
    for args, words in (({"unit": "../x"}, "not a systemd unit name"), ({"owner": "a b"}, "must be an incident id"),
                        ({"ttl": 0}, "ttl at least 1"), ({"wait": -1}, "wait must be at least 0")):  # fmt: skip
        failed, result = lock(run_module, tmp_path, **args)
        assert failed and words in result["msg"], result
    assert list(tmp_path.iterdir()) == []


def _race(folder: str, owner: str, results) -> None:
    results.put((owner, leases.take(UNIT, owner, wait=0, ttl=60, folder=folder)["acquired"]))


def test_of_many_runs_at_once_exactly_one_takes_the_lease(tmp_path):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    runs = [context.Process(target=_race, args=(str(tmp_path / "locks"), f"INC-{i}", results)) for i in range(8)]
    for process in runs:
        process.start()
    for process in runs:
        process.join(30)
    taken = [results.get(timeout=5) for _ in runs]
    winners = [owner for owner, won in taken if won]
    assert len(winners) == 1, taken
    assert json.loads((tmp_path / "locks" / f"{UNIT}.lease").read_text())["owner"] == winners[0]
