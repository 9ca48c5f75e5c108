"""The stability windows' schedule in the journal (stability.py): scheduled once, claimed by one process, a
regression first wins over a confirmation under way, a confirmation whose process died is scheduled again."""

from __future__ import annotations

import subprocess
import sys
import time

from incident_remediation.journal import Journal, process_token

RECORD = {"incident": "INC-1", "host": "h1", "plan": {}, "stability": {"window": 60}}


def scheduled(journal: Journal, **given) -> str:
    args = dict(incident_id="INC-1", host="h1", timeline="/t/timeline.jsonl", record=RECORD, window=60,
                mitigated=time.time() - 120, job_id="j1", fingerprint="f00d")  # fmt: skip
    args.update(given)
    assert journal.schedule_confirmation(**args)
    return f"{args['incident_id']}/{args['host']}"


def test_a_confirmation_is_scheduled_once_and_claimed_by_one_process_only(tmp_path):
    first, second = Journal(tmp_path / "j.sqlite"), Journal(tmp_path / "j.sqlite")  # two receivers, one journal
    row = scheduled(first)
    assert not second.schedule_confirmation(incident_id="INC-1", host="h1", timeline="/t", record=RECORD, window=60,
                                            mitigated=time.time())  # fmt: skip
    assert [r["id"] for r in second.due_confirmations(time.time())] == [row]
    assert first.claim_confirmation(row) is True
    assert second.claim_confirmation(row) is False, "taken: the other receiver does not run it too"
    assert second.due_confirmations(time.time()) == []
    assert first.end_confirmation(row, "resolved", "stable 1 min", []) is True
    assert first.end_confirmation(row, "regressed", "again", []) is False, "an end is written once"
    assert second.confirmation(row)["state"] == "resolved"


def test_a_regression_during_a_confirmation_wins_and_the_confirmations_end_is_refused(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    row = scheduled(journal)
    assert journal.watching("f00d")["id"] == row
    assert journal.claim_confirmation(row)
    assert journal.regress(row, "fired again", 1234.0) is True
    assert journal.end_confirmation(row, "resolved", "stable", []) is False
    assert journal.confirmation(row)["state"] == "regressed"
    assert journal.watching("f00d") is None
    assert journal.regressed_episode("f00d", 1234.0)["id"] == row
    assert journal.regress(row, "again", 1234.0) is False, "paged once"


def test_a_confirmation_whose_process_died_is_scheduled_again_and_a_live_ones_left_alone(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    dead, live = scheduled(journal, host="h1"), scheduled(journal, host="h2")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.2)
        with journal.transaction():
            journal.db.execute("UPDATE confirmations SET state = 'confirming', owner = ? WHERE id = ?",
                               ("boot/999999/1", dead))  # fmt: skip
            journal.db.execute("UPDATE confirmations SET state = 'confirming', owner = ? WHERE id = ?",
                               (process_token(child.pid), live))  # fmt: skip
        assert [r["id"] for r in journal.recover_confirmations()] == [dead]
        assert journal.confirmation(dead)["state"] == "scheduled"
        assert journal.confirmation(live)["state"] == "confirming"
    finally:
        child.kill()
        child.wait()
