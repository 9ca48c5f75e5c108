"""The journal itself: a journal written by an earlier release opens with the columns added since."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

from incident_remediation.journal import Journal

FIRST_RELEASE_JOBS = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, started REAL, finished REAL, state TEXT NOT NULL,
    source TEXT NOT NULL, fingerprint TEXT NOT NULL DEFAULT '', route TEXT NOT NULL DEFAULT '', target TEXT NOT NULL,
    playbook TEXT NOT NULL, extravars TEXT NOT NULL, check_mode INTEGER NOT NULL DEFAULT 0,
    incident_id TEXT NOT NULL DEFAULT '', rc INTEGER, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL, fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL, status TEXT NOT NULL, labels TEXT NOT NULL, verdict TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', route TEXT NOT NULL DEFAULT '', job_id TEXT NOT NULL DEFAULT '');
INSERT INTO alerts (received, fingerprint, alertname, status, labels, verdict) VALUES (1, 'aa', 'A', 'resolved', '{}',
    'resolved');
INSERT INTO jobs (id, created, started, finished, state, source, route, target, playbook, extravars)
    VALUES ('old', 1, 2, 3, 'succeeded', 'alert', 'down', 'web1', 'p', '{}');
"""


def test_a_journal_of_an_earlier_release_gets_the_new_columns_and_its_jobs_count_as_they_did(tmp_path):
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.executescript(FIRST_RELEASE_JOBS)
    db.close()
    journal = Journal(tmp_path / "journal.sqlite")
    assert journal.job("old")["acted"] == 1, "a job of before may have acted: its cooldown holds"
    assert journal.last_finished("down", "web1") == 3
    assert journal.alerts()[0]["starts"] is None and journal.episode_over("aa", 0, 300) is None, "no episode: as before"
    journal.close()
    assert Journal(tmp_path / "journal.sqlite").job("old")["state"] == "succeeded", "opens again"


OPEN = """
import sys, time
from incident_remediation.journal import Journal
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Journal(sys.argv[1]).close()
"""


def test_processes_opening_a_journal_of_an_earlier_release_at_once_all_open_it(tmp_path):
    """The receiver's first start after an upgrade, beside a `remediate jobs`: both add the new columns."""
    for round_ in range(5):
        path = tmp_path / f"journal{round_}.sqlite"
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")  # as the earlier release's Journal left it
        db.executescript(FIRST_RELEASE_JOBS)
        db.close()
        at = str(time.time() + 1.5)  # all start together, once their interpreters are up
        children = [subprocess.Popen([sys.executable, "-c", OPEN, str(path), at], stderr=subprocess.PIPE, text=True)
                    for _ in range(4)]  # fmt: skip
        for child in children:
            _, err = child.communicate(timeout=60)
            assert child.returncode == 0, err.strip().splitlines()[-1]
        assert Journal(path).job("old")["acted"] == 1


def test_processes_creating_a_journal_at_once_all_open_it(tmp_path):
    """The first start of a new install: the receiver and a `remediate jobs` create the journal together."""
    for round_ in range(5):
        path = tmp_path / f"new{round_}.sqlite"
        at = str(time.time() + 1.5)
        children = [subprocess.Popen([sys.executable, "-c", OPEN, str(path), at], stderr=subprocess.PIPE, text=True)
                    for _ in range(4)]  # fmt: skip
        for child in children:
            _, err = child.communicate(timeout=60)
            assert child.returncode == 0, err.strip().splitlines()[-1]
        journal = Journal(path)
        assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal" and journal.jobs() == []


def test_retention_deletes_in_batches_and_lets_the_other_journal_calls_through(tmp_path):
    """After a flood, a month later: the purge of many alert rows does not hold the journal for its whole DELETE."""
    journal = Journal(tmp_path / "journal.sqlite")
    with journal.transaction():
        journal.db.executemany(
            "INSERT INTO alerts (received, fingerprint, alertname, status, labels, verdict) VALUES (1, ?, 'A',"
            " 'firing', '{}', 'accepted')", ((f"f{n}",) for n in range(300_000)),
        )  # fmt: skip
    journal.record_alert(type("A", (), {"fingerprint": "new", "name": "A", "status": "firing", "labels": {}}), "x")
    done, answered = threading.Event(), []

    def purge():
        journal.purge(30)
        done.set()

    thread = threading.Thread(target=purge)
    thread.start()
    while not done.is_set():
        journal.count("queued")
        if not done.is_set():
            answered.append(time.monotonic())
    thread.join()
    assert len(journal.alerts(10)) == 1, "the old rows are gone, the recent one stays"
    assert len(answered) >= 5, f"only {len(answered)} journal calls answered while the purge ran"


def test_an_in_memory_journal_opens():
    # remediate route without a journal of its own explains on one in memory (SQLite keeps it in mode 'memory')
    from incident_remediation.journal import Journal  # noqa: PLC0415

    assert Journal(":memory:").jobs() == []
