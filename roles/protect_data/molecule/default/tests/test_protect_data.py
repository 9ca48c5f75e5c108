"""After the runs: both writers stopped, the snapshot a whole SQLite database, the unit quarantined, one record."""

from __future__ import annotations

import json

RECORDS = "/var/lib/incident-remediation/protect-data/ledger.service"
SNAPSHOT = "/var/backups/ledger/MOL-PROTECT-1.db"


def test_both_writers_are_stopped_and_stay_stopped(host):
    assert host.run("systemctl is-active ledger.service ledger-feed.service").stdout.split() == ["inactive"] * 2


def test_the_snapshot_is_a_whole_database(host):
    check = f"import sqlite3; d = sqlite3.connect('{SNAPSHOT}'); "
    check += "print(d.execute('PRAGMA integrity_check').fetchone()[0], "
    check += "d.execute('SELECT count(*) FROM entries').fetchone()[0])"
    verdict, rows = host.check_output(f'python3 -c "{check}"').split()
    assert verdict == "ok" and int(rows) > 0


def test_one_snapshot_per_incident_recorded_and_the_unit_quarantined(host):
    record = json.loads(host.file(f"{RECORDS}/MOL-PROTECT-1.json").content_string)
    assert record["incident"] == "MOL-PROTECT-1" and record["snapshot"] == SNAPSHOT
    assert int(record["bytes"]) > 0 and record["reason"] == "sqlite corruption"
    assert host.run("ls /var/backups/ledger").stdout.split() == ["MOL-PROTECT-1.db"], "no second snapshot, no leftover"
    assert not host.file(f"{RECORDS}/MOL-PROTECT-2.json").exists, "the failed snapshot is not recorded as taken"
    quarantine = json.loads(host.file("/var/lib/incident-remediation/quarantine/ledger.service.json").content_string)
    assert quarantine["unit"] == "ledger.service" and "protect_data" in quarantine["reason"]
