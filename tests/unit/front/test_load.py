"""Load with a stolen token (issue 21, item 16): one transaction per request, retention on a timer for rows
and folders, a lock table that does not grow with every target seen, and a bounded queue answering 503."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from incident_remediation import receiver
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.routing import Route
from incident_remediation.webhook import parse_alert

TOKEN = "load-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def raw_alert(n: int, host: str = "") -> dict:
    return {"status": "firing", "labels": {"alertname": "Down", "instance": f"{host or f'web{n}'}:80"},
            "fingerprint": f"{n:016x}", "startsAt": "2026-11-23T10:00:00Z"}  # fmt: skip


def body(*alerts) -> str:
    return json.dumps({"version": "4", "alerts": list(alerts)})


@pytest.fixture
def make(tmp_path):
    def build(execute=None, **settings):
        route = Route(name="down", alertname="Down", playbook="p.yml", cooldown=0, concurrency=1000)
        config = Config(source="test", routes=[route], data_dir=tmp_path, **{"max_jobs": 1000, **settings})
        return Dispatcher(config, Journal(tmp_path / "journal.sqlite"), execute or (lambda c, j: ("succeeded", 0, "")))

    return build


def test_a_request_of_a_thousand_alerts_is_one_transaction(make):
    dispatcher = make()
    commits = []
    dispatcher.journal.db.set_trace_callback(lambda sql: sql == "COMMIT" and commits.append(sql))

    async def scenario():
        verdicts = dispatcher.submit([parse_alert(raw_alert(n)) for n in range(1000)])
        dispatcher.journal.db.set_trace_callback(None)
        await dispatcher.drain()
        return verdicts

    verdicts = asyncio.run(scenario())
    assert {v.verdict for v in verdicts} == {"accepted"} and len(verdicts) == 1000
    assert len(commits) == 1, f"{len(commits)} fsynced commits for one request"
    assert len(dispatcher.journal.alerts(2000)) == 1000


def test_a_request_the_journal_cannot_take_whole_records_none_of_it(make):
    dispatcher = make()

    async def scenario():
        pages = dispatcher.journal.db.execute("PRAGMA page_count").fetchone()[0]
        dispatcher.journal.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for a few alerts only
        with pytest.raises(Exception, match="full"):
            dispatcher.submit([parse_alert(raw_alert(n)) for n in range(500)])
        await dispatcher.drain()

    asyncio.run(scenario())
    assert dispatcher.journal.alerts() == [] and dispatcher.journal.jobs() == [], "all or nothing"


def test_the_target_lock_table_holds_only_the_targets_of_jobs_not_ended(make):
    release = threading.Event()

    def execute(config, job):
        if job["target"] == "busy":
            release.wait(5)
        return "succeeded", 0, ""

    dispatcher = make(execute)

    async def scenario():
        dispatcher.submit([parse_alert(raw_alert(n)) for n in range(200)])
        dispatcher.submit([parse_alert(raw_alert(1000 + n, "busy")) for n in range(2)])
        while len(dispatcher.tasks) > 2:
            await asyncio.sleep(0.01)
        during = set(dispatcher.target_locks)
        release.set()
        await dispatcher.drain()
        return during

    during = asyncio.run(scenario())
    assert during == {"busy"}, "the 200 ended jobs left no lock; the busy host keeps its own"
    assert dispatcher.target_locks == {}


def test_retention_runs_on_a_timer_for_rows_and_job_folders(make, tmp_path, monkeypatch):
    """A receiver runs for months: what grows (rows, jobs/<id>/ folders) is purged while it runs."""
    monkeypatch.setattr("incident_remediation.dispatcher.RETENTION_SECONDS", 0.2, raising=False)
    dispatcher = make(retention_days=1)
    journal, jobs, past = dispatcher.journal, tmp_path / "jobs", time.time() - 2 * 86400
    kept = journal.create_job(source="alert", target="web2", playbook="p", extravars={}, route="down")
    journal.set_state(kept, "succeeded")
    left = jobs / "20200101T000000Z-0badf00d"  # a folder an earlier purge left behind its row
    for folder in (jobs / kept, left):
        (folder / "artifacts").mkdir(parents=True)
    os.utime(left, (past, past))
    outside = tmp_path / "outside"
    outside.mkdir()
    (jobs / "20200101T000000Z-0000link").symlink_to(outside)  # never followed, never removed

    async def scenario():
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))):
            old = journal.create_job(source="alert", target="web1", playbook="p", extravars={}, route="down")
            journal.set_state(old, "succeeded", at=past)  # two days old once the receiver runs
            (jobs / old / "artifacts").mkdir(parents=True)
            os.utime(jobs / old, (past, past))
            deadline = time.monotonic() + 3
            while (journal.job(old) or (jobs / old).exists()) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return old

    old = asyncio.run(scenario())
    assert journal.job(old) is None, "the row, purged while the receiver runs"
    assert journal.job(kept) is not None
    assert sorted(p.name for p in jobs.iterdir()) == sorted([kept, "20200101T000000Z-0000link"]), "folders too"
    assert outside.is_dir()


def test_a_full_queue_is_answered_503_with_retry_after_and_counted(make):
    release = threading.Event()

    def execute(config, job):
        release.wait(5)
        return "succeeded", 0, ""

    dispatcher = make(execute, max_jobs=1, max_queued=3)

    async def scenario():
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            taken = [await client.post("/alerts", headers=HEADERS, data=body(*(raw_alert(n) for n in range(3))))]
            await asyncio.sleep(0.1)  # one runs, two wait
            taken.append(await client.post("/alerts", headers=HEADERS, data=body(raw_alert(4))))
            full = await client.post("/alerts", headers=HEADERS, data=body(raw_alert(10)))
            resolved = await client.post("/alerts", headers=HEADERS,
                                         data=body({**raw_alert(3), "status": "resolved"}))  # fmt: skip
            answer = full.status, full.headers.get("Retry-After"), await full.json(), resolved.status
            metrics = await (await client.get("/metrics")).text()
            release.set()
            await dispatcher.drain()
            return [t.status for t in taken], answer, metrics

    taken, (status, retry, error, resolved), metrics = asyncio.run(scenario())
    assert taken == [202, 202], "three jobs wait: as many as max_queued"
    assert status == 503 and retry == "30", error
    assert error["error"].startswith("the queue is full: 3 jobs wait (max_queued 3)"), error
    assert resolved == 202, "a request that adds no job is taken: a resolved even empties the queue"
    assert 'remediate_requests_rejected_total{reason="queue_full"} 1' in metrics
    assert not [a for a in dispatcher.journal.alerts() if a["fingerprint"] == f"{10:016x}"], "nothing recorded"
