"""The journal itself: a journal written by an earlier release opens with the columns added since."""

from __future__ import annotations

import sqlite3

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
    assert journal.alerts()[0]["starts"] is None and journal.episode_over("aa", 0) is None, "no episode: as before"
    journal.close()
    assert Journal(tmp_path / "journal.sqlite").job("old")["state"] == "succeeded", "opens again"
