"""The durable journal: every accepted alert and every job state change, committed before it is acknowledged.

SQLite in WAL mode with synchronous=FULL: a committed row survives a crash of the process (SIGKILL) and
of the machine. One connection per Journal, shared by threads under a lock; other processes (the CLI
beside a running receiver) wait up to 10 s for a lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted", "timed_out", "expired")
STATES = ACTIVE + TERMINAL
# a mitigated incident's stability window (stability.py): scheduled until its end, confirming while one process
# (claimed, its owner named) runs the range queries, then resolved (stable) or regressed
CONFIRMATION_STATES = ("scheduled", "confirming", "resolved", "regressed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    route TEXT NOT NULL DEFAULT '',
    job_id TEXT NOT NULL DEFAULT '',
    starts REAL,
    ends REAL
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts (fingerprint);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    route TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL,
    playbook TEXT NOT NULL,
    extravars TEXT NOT NULL,
    check_mode INTEGER NOT NULL DEFAULT 0,
    incident_id TEXT NOT NULL DEFAULT '',
    rc INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    acted INTEGER NOT NULL DEFAULT 1,
    starts REAL,
    owner TEXT NOT NULL DEFAULT '',
    awx_job INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs (fingerprint);
CREATE INDEX IF NOT EXISTS jobs_route_target ON jobs (route, target, finished);
CREATE TABLE IF NOT EXISTS confirmations (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    host TEXT NOT NULL,
    job_id TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    timeline TEXT NOT NULL,
    record TEXT NOT NULL,
    seconds REAL NOT NULL,
    mitigated REAL NOT NULL,
    due REAL NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    retry_at REAL,
    reason TEXT NOT NULL DEFAULT '',
    checks TEXT NOT NULL DEFAULT '[]',
    finished REAL,
    regressed_starts REAL
);
CREATE INDEX IF NOT EXISTS confirmations_state ON confirmations (state, due);
CREATE INDEX IF NOT EXISTS confirmations_fingerprint ON confirmations (fingerprint, state);
"""
# columns added since the first release: a journal written before gets them at open (ALTER TABLE)
ADDED = {
    "jobs": {
        "acted": "INTEGER NOT NULL DEFAULT 1",
        "starts": "REAL",
        "owner": "TEXT NOT NULL DEFAULT ''",
        "awx_job": "INTEGER",
    },
    "alerts": {"starts": "REAL", "ends": "REAL"},
}


PURGE_BATCH = 5000  # rows deleted per transaction by purge()
PURGE_PAUSE = 0.005  # seconds between two of purge()'s transactions
OWN: dict[int, str] = {}  # this process's token, read once (a forked child has its own pid)


def process_token(pid: int | None = None) -> str:
    """Who owns a job: this boot, the process's pid and its start time (a pid reused later, or after a
    reboot, is another process); '' when the process is gone. This process's (no ``pid``) is read once."""
    if pid is None:
        pid = os.getpid()
        if pid not in OWN:
            OWN[pid] = process_token(pid)
        return OWN[pid]
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return f"{boot}/{pid}/{stat[stat.rindex(')') + 2 :].split()[19]}"  # field 22, after the command's name


def alive(owner: str) -> bool:
    """Whether the process that wrote ``owner`` (process_token) still runs, and is not this one."""
    pid = owner.split("/")[1] if owner.count("/") == 2 else ""
    return pid.isdigit() and int(pid) != os.getpid() and process_token(int(pid)) == owner


def new_job_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lock = threading.RLock()  # re-entered by the writes inside a transaction()
        self.db = sqlite3.connect(str(self.path), timeout=10, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self._wal()
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if self._missing_columns():
            with self.transaction():  # another process may add them at the same time: looked at again inside
                for table, name, kind in self._missing_columns():
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def _wal(self) -> None:
        """WAL mode (kept in the file). Switching takes an exclusive lock that SQLite does not wait for: a
        process creating the journal beside another (the first start of an install) tries again, 10 s at most."""
        deadline = time.monotonic() + 10
        while True:
            try:
                mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                mode = ""
            if mode == "wal" or (mode == "memory" and str(self.path) == ":memory:"):  # remediate route's own
                return
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"the journal {self.path} stays in journal mode {mode!r}, not WAL")
            time.sleep(0.05)

    def _missing_columns(self) -> list[tuple[str, str, str]]:
        """The columns of ADDED this journal (written by an earlier release) does not have yet."""
        missing = []
        for table, columns in ADDED.items():
            present = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
            missing += [(table, name, kind) for name, kind in columns.items() if name not in present]
        return missing

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The writes inside are committed together or not at all (a full disk fails the COMMIT itself: it
        is rolled back too, so the next write does not find a transaction left open). Nests: the outermost
        one commits."""
        with self.lock:
            if self.db.in_transaction:
                yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, args: tuple) -> None:
        with self.transaction():
            self.db.execute(sql, args)

    def _rows(self, sql: str, args: tuple = ()) -> list[dict]:
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, args).fetchall()]

    # --- writes ------------------------------------------------------------------------------------
    def record_alert(self, alert, verdict: str, reason: str = "", route: str = "", job_id: str = "", *,
                     starts: float | None = None, ends: float | None = None) -> None:  # fmt: skip
        """``starts``, ``ends``: the alert's startsAt and endsAt in seconds (None when it has none)."""
        self._write(
            "INSERT INTO alerts (received, fingerprint, alertname, status, labels, verdict, reason, route, job_id,"
            " starts, ends) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), alert.fingerprint, alert.name, alert.status, json.dumps(alert.labels, sort_keys=True),
             verdict, reason, route, job_id, starts, ends),
        )  # fmt: skip

    def create_job(self, *, source: str, target: str, playbook: str, extravars: dict, route: str = "",
                   fingerprint: str = "", check_mode: bool = False, incident_id: str = "",
                   starts: float | None = None) -> str:  # fmt: skip
        """``starts``: when the alert's episode began (its startsAt, in seconds), for an alert's job."""
        job_id = new_job_id()
        self._write(
            "INSERT INTO jobs (id, created, state, source, fingerprint, route, target, playbook, extravars,"
            " check_mode, incident_id, starts, owner) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, time.time(), source, fingerprint, route, target, playbook, json.dumps(extravars),
             int(check_mode), incident_id, starts, process_token()),
        )  # fmt: skip
        return job_id

    def set_state(self, job_id: str, state: str, *, rc: int | None = None, reason: str = "",
                  at: float | None = None, acted: bool = True) -> None:  # fmt: skip
        """``at``: when it happened, if earlier than now (a state written late, after a full disk). ``acted``:
        false when the job's incidents recorded that they changed nothing (no cooldown follows it)."""
        now = time.time() if at is None else at
        if state == "running":
            # an end written before is cleared: a job the receiver follows again after a restart (awx.py)
            self._write("UPDATE jobs SET state = ?, started = ?, owner = ?, finished = NULL, rc = NULL, reason = ''"
                        " WHERE id = ?", (state, now, process_token(), job_id))  # fmt: skip
        else:
            self._write(
                "UPDATE jobs SET state = ?, finished = ?, rc = ?, reason = ?, acted = ? WHERE id = ?",
                (state, now, rc, reason, int(acted), job_id),
            )

    def follow_episode(self, job_id: str, starts: float | None) -> None:
        """A firing of a newer episode (``starts``) deduped into ``job_id``: the job is now that episode's, so a
        late resolved of the older one leaves it queued (stale) instead of cancelling it."""
        if starts is not None:
            self._write("UPDATE jobs SET starts = ? WHERE id = ? AND (starts IS NULL OR starts < ?)",
                        (starts, job_id, starts))  # fmt: skip

    def set_awx_job(self, job_id: str, awx_job: int) -> None:
        """The AWX job running ``job_id`` (awx.py), written as soon as AWX names it: a restart follows it."""
        self._write("UPDATE jobs SET awx_job = ? WHERE id = ?", (awx_job, job_id))

    def recover(self) -> tuple[list[dict], list[dict]]:
        """After a crash: the running jobs of processes that are gone become interrupted (never run twice);
        their queued ones are returned to re-queue. The jobs of a live process (an operator's `remediate run`
        beside the receiver, another receiver) are its own: left alone."""
        orphaned = [job for job in self._rows("SELECT * FROM jobs WHERE state IN ('running', 'queued') ORDER BY "
                                              "created") if not alive(job["owner"])]  # fmt: skip
        interrupted = [job for job in orphaned if job["state"] == "running"]
        for job in interrupted:
            self.set_state(job["id"], "interrupted", reason="the receiver stopped while the job ran")
        return interrupted, [job for job in orphaned if job["state"] == "queued"]

    def purge(self, retention_days: float) -> int:
        """Delete finished jobs and alerts older than the retention; returns the jobs deleted. In batches of
        PURGE_BATCH rows, one transaction each: the journal's other calls (the receiver's requests, /healthz)
        get their turn between them, however many rows a flood left."""
        cutoff = time.time() - retention_days * 86400
        done = self._purge(f"SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ? AND state IN {TERMINAL}",
                           "jobs", "id", cutoff)  # fmt: skip
        self._purge("SELECT id FROM alerts WHERE received < ?", "alerts", "id", cutoff)
        self._purge("SELECT id FROM confirmations WHERE finished IS NOT NULL AND finished < ?", "confirmations", "id",
                    cutoff)  # fmt: skip
        return done

    def _purge(self, select: str, table: str, key: str, cutoff: float) -> int:
        deleted = 0
        while True:
            with self.transaction():
                count = self.db.execute(f"DELETE FROM {table} WHERE {key} IN ({select} LIMIT {PURGE_BATCH})",
                                        (cutoff,)).rowcount  # fmt: skip
            deleted += count
            if count < PURGE_BATCH:
                return deleted
            time.sleep(PURGE_PAUSE)  # the lock is free: a waiting call takes it (threading locks are not fair)

    # --- stability windows (stability.py) -----------------------------------------------------------
    def schedule_confirmation(self, *, incident_id: str, host: str, timeline: str, record: dict, window: float,
                              mitigated: float, job_id: str = "", fingerprint: str = "") -> bool:  # fmt: skip
        """Schedule the confirmation at the end of a mitigated incident's window (once: a second call for the same
        incident and host changes nothing); whether it was scheduled now."""
        with self.transaction():
            return self.db.execute(
                "INSERT OR IGNORE INTO confirmations (id, incident_id, host, job_id, fingerprint, timeline, record,"
                " seconds, mitigated, due, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled')",
                (f"{incident_id}/{host}", incident_id, host, job_id, fingerprint, timeline, json.dumps(record),
                 window, mitigated, mitigated + window),
            ).rowcount == 1  # fmt: skip

    def claim_confirmation(self, confirmation_id: str) -> bool:
        """Take a scheduled confirmation for this process (at most one process runs it: the others find it taken)."""
        with self.transaction():
            return self.db.execute(
                "UPDATE confirmations SET state = 'confirming', owner = ? WHERE id = ? AND state = 'scheduled'",
                (process_token(), confirmation_id),
            ).rowcount == 1  # fmt: skip

    def end_confirmation(self, confirmation_id: str, state: str, reason: str, checks: list) -> bool:
        """Record this process's confirmation (resolved or regressed); false when a regression came first."""
        with self.transaction():
            return self.db.execute(
                "UPDATE confirmations SET state = ?, reason = ?, checks = ?, finished = ? WHERE id = ? AND"
                " state = 'confirming' AND owner = ?",
                (state, reason, json.dumps(checks), time.time(), confirmation_id, process_token()),
            ).rowcount == 1  # fmt: skip

    def put_back_confirmation(self, confirmation_id: str, reason: str, retry_at: float) -> None:
        """A confirmation that could not ask Prometheus: scheduled again, tried again at ``retry_at``."""
        self._write("UPDATE confirmations SET state = 'scheduled', owner = '', reason = ?, retry_at = ? WHERE id = ?"
                    " AND state = 'confirming' AND owner = ?",
                    (reason, retry_at, confirmation_id, process_token()))  # fmt: skip

    def regress(self, confirmation_id: str, reason: str, starts: float | None) -> bool:
        """The alert fired again inside the window: regressed now (whoever was confirming it: its end is then
        refused); false when it was no longer watched."""
        with self.transaction():
            return self.db.execute(
                "UPDATE confirmations SET state = 'regressed', reason = ?, finished = ?, regressed_starts = ?"
                " WHERE id = ? AND state IN ('scheduled', 'confirming')",
                (reason, time.time(), starts, confirmation_id),
            ).rowcount == 1  # fmt: skip

    def recover_confirmations(self) -> list[dict]:
        """After a crash: the confirmations a process that is gone was running are scheduled again (they only read
        Prometheus, so running one again is safe; never two at once: a live owner's are left alone)."""
        taken = [row for row in self._rows("SELECT * FROM confirmations WHERE state = 'confirming'")
                 if not alive(row["owner"]) and row["owner"] != process_token()]  # fmt: skip
        for row in taken:
            self._write("UPDATE confirmations SET state = 'scheduled', owner = '' WHERE id = ? AND state = 'confirming'"
                        " AND owner = ?", (row["id"], row["owner"]))  # fmt: skip
        return taken

    def due_confirmations(self, now: float) -> list[dict]:
        return self._rows("SELECT * FROM confirmations WHERE state = 'scheduled' AND due <= ? AND (retry_at IS NULL OR"
                          " retry_at <= ?) ORDER BY due", (now, now))  # fmt: skip

    def next_due(self) -> float | None:
        rows = self._rows("SELECT MIN(MAX(due, COALESCE(retry_at, 0))) AS due FROM confirmations"
                          " WHERE state = 'scheduled'")  # fmt: skip
        return rows[0]["due"] if rows else None

    def watching(self, fingerprint: str) -> dict | None:
        """The confirmation whose window watches the alert ``fingerprint`` (scheduled or being confirmed)."""
        rows = self._rows("SELECT * FROM confirmations WHERE fingerprint = ? AND state IN ('scheduled', 'confirming')"
                          " ORDER BY due DESC LIMIT 1", (fingerprint,))  # fmt: skip
        return rows[0] if rows else None

    def regressed_episode(self, fingerprint: str, starts: float | None) -> dict | None:
        """The confirmation of this alert that regressed (it paged: nothing more to do) for this firing: its window
        not over yet, or this same episode (the regressing firing, sent again later)."""
        rows = self._rows("SELECT * FROM confirmations WHERE fingerprint = ? AND state = 'regressed' AND (due > ? OR"
                          " regressed_starts = ?) ORDER BY due DESC LIMIT 1",
                          (fingerprint, time.time(), starts))  # fmt: skip
        return rows[0] if rows else None

    def watched(self) -> list[dict]:
        """The confirmations whose window still runs (scheduled, not due yet): watched for a regression."""
        return self._rows("SELECT * FROM confirmations WHERE state = 'scheduled' AND due > ?", (time.time(),))

    def confirmation(self, confirmation_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM confirmations WHERE id = ?", (confirmation_id,))
        return rows[0] if rows else None

    def confirmations(self, incident_id: str = "", limit: int = 100) -> list[dict]:
        if incident_id:
            return self._rows("SELECT * FROM confirmations WHERE incident_id = ? ORDER BY host", (incident_id,))
        return self._rows("SELECT * FROM confirmations ORDER BY due DESC LIMIT ?", (limit,))

    # --- reads -------------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, limit: int = 50, state: str = "") -> list[dict]:
        if state:
            return self._rows("SELECT * FROM jobs WHERE state = ? ORDER BY created DESC LIMIT ?", (state, limit))
        return self._rows("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))

    def active_job(self, fingerprint: str) -> dict | None:
        rows = self._rows(
            "SELECT * FROM jobs WHERE fingerprint = ? AND state IN ('queued', 'running') ORDER BY created LIMIT 1",
            (fingerprint,),
        )
        return rows[0] if rows else None

    def last_finished(self, route: str, target: str) -> float | None:
        """When the last job of ``route`` on ``target`` that started and may have acted ended (whatever its
        end: succeeded, failed, interrupted by a crash, ...): what a cooldown counts from."""
        rows = self._rows(
            "SELECT MAX(finished) AS finished FROM jobs WHERE route = ? AND target = ? AND started IS NOT NULL"
            " AND finished IS NOT NULL AND acted = 1",
            (route, target),
        )
        return rows[0]["finished"] if rows else None

    def episode_over(self, fingerprint: str, starts: float, window: float) -> dict | None:
        """The alert received that says the episode of ``fingerprint`` begun at ``starts`` is over: any alert of
        a newer episode (one fingerprint has one episode at a time), or its own resolved received less than
        ``window`` seconds ago (later, a firing of the same episode fires again: Alertmanager resolved it on its
        own while Prometheus could not reach it); None if none."""
        rows = self._rows(
            "SELECT * FROM alerts WHERE fingerprint = ? AND (starts > ? OR (starts = ? AND status = 'resolved'"
            " AND received >= ?)) ORDER BY starts DESC, id DESC LIMIT 1",
            (fingerprint, starts, starts, time.time() - window),
        )
        return rows[0] if rows else None

    def alerts(self, limit: int = 100) -> list[dict]:
        return self._rows("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))

    def count(self, state: str) -> int:
        return self._rows("SELECT COUNT(*) AS n FROM jobs WHERE state = ?", (state,))[0]["n"]

    def count_by_state(self) -> dict[str, int]:
        return {row["state"]: row["n"] for row in self._rows("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")}
