"""A journal that cannot grow (a full disk; SQLite's max_page_count stands in for it here, a real full
tmpfs in tests/integration/test_receiver_hardening.py): each alert is recorded whole or not at all,
nothing unrecorded starts, the receiver answers 503 and counts it, and all works again once there is room.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from incident_remediation import receiver
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.routing import Route
from incident_remediation.webhook import parse_alert

TOKEN = "s3cret-token-0123456789abcdef"


def raw_alert(n: int) -> dict:
    return {"status": "firing", "labels": {"alertname": "Down", "instance": f"web{n}:80"},
            "fingerprint": f"{n:016x}", "startsAt": "2026-11-23T10:00:00Z"}  # fmt: skip


def full(journal: Journal, full: bool = True) -> None:
    """No page beyond the ones the journal has (or room again)."""
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages if full else 1 << 30}")


@pytest.fixture
def dispatcher(tmp_path):
    route = Route(name="down", alertname="Down", playbook="p.yml")
    config = Config(source="test", routes=[route], data_dir=tmp_path, max_jobs=64)
    ran = []
    return Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda config, job: ran.append(job) or
                      ("succeeded", 0, "")), ran  # fmt: skip


def test_each_alert_is_recorded_whole_or_not_at_all_and_nothing_unrecorded_starts(dispatcher):
    dispatcher, ran = dispatcher

    async def scenario():
        full(dispatcher.journal)
        accepted, refused = [], None
        for n in range(5000):
            try:
                accepted += dispatcher.submit([parse_alert(raw_alert(n))])
            except sqlite3.OperationalError as exc:
                refused = (n, str(exc))
                break
        journal = dispatcher.journal
        recorded = {a["fingerprint"] for a in journal.alerts(10000)}
        jobs = {j["fingerprint"] for j in journal.jobs(10000)}
        full(journal, False)
        await dispatcher.drain()
        again = dispatcher.submit([parse_alert(raw_alert(refused[0]))]) if refused else []
        await dispatcher.drain()
        return accepted, refused, recorded, jobs, again

    accepted, refused, recorded, jobs, again = asyncio.run(scenario())
    assert refused is not None and "full" in refused[1], "the journal never filled up"
    lost = f"{refused[0]:016x}"
    assert lost not in recorded and lost not in jobs, "the refused alert left no row, not even its job"
    assert recorded == jobs == {v.fingerprint for v in accepted}, "every recorded alert has its job, and only those"
    assert len(ran) == len(accepted) + 1, "every accepted job ran once there was room; the refused one did not"
    assert [v.verdict for v in again] == ["accepted"], "sent again, the refused alert is new, not deduped"


def test_the_receiver_answers_503_and_counts_it(dispatcher):
    dispatcher, ran = dispatcher

    async def scenario():
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            full(dispatcher.journal)
            for n in range(5000):
                answer = await client.post("/alerts", headers=headers,
                                           data=json.dumps({"version": "4", "alerts": [raw_alert(n)]}))  # fmt: skip
                if answer.status != 202:
                    break
            refused = answer.status, answer.headers.get("Retry-After"), await answer.json()
            metrics = await (await client.get("/metrics")).text()
            full(dispatcher.journal, False)
            again = await client.post("/alerts", headers=headers,
                                      data=json.dumps({"version": "4", "alerts": [raw_alert(n)]}))  # fmt: skip
            await dispatcher.drain()
            return n, refused, metrics, again.status

    n, (status, retry, body), metrics, again = asyncio.run(scenario())
    assert status == 503 and retry == "30", body
    assert body["error"].startswith("the journal cannot record alerts (database or disk is full)"), body
    assert 'remediate_requests_rejected_total{reason="journal"} 1' in metrics
    assert again == 202 and len(ran) == n + 1


def read_only(journal: Journal, on: bool = True) -> None:
    """Every write fails with SQLite's own error, as on a full disk, whatever the write's size."""
    journal.db.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def test_a_job_end_the_journal_cannot_take_is_held_then_written_with_its_time(dispatcher):
    dispatcher, _ = dispatcher
    ended = []

    def execute(config, job):  # the disk fills while the playbook runs
        read_only(dispatcher.journal)
        ended.append(time.time())
        return "succeeded", 0, "done"

    dispatcher.execute = execute

    async def scenario():
        (first,) = dispatcher.submit([parse_alert(raw_alert(1))])
        await dispatcher.drain()
        seen = dispatcher.journal.job(first.job_id)["state"], dispatcher.held()
        with pytest.raises(sqlite3.OperationalError):  # the same alert again: the receiver's 503
            dispatcher.submit([parse_alert(raw_alert(1))])
        read_only(dispatcher.journal, False)
        (again,) = dispatcher.submit([parse_alert(raw_alert(1))])  # catches up first
        await dispatcher.drain()
        return first, seen, again

    first, seen, again = asyncio.run(scenario())
    assert seen == ("running", 1), "held in memory; the journal still shows it running"
    job = dispatcher.journal.job(first.job_id)
    assert (job["state"], job["rc"], job["reason"]) == ("succeeded", 0, "done")
    assert job["finished"] == pytest.approx(ended[0], abs=0.5), "written late, with the time it ended"
    assert dispatcher.held() == 0
    assert again.verdict == "cooldown", "not deduplicated against a job that is over: its route's cooldown holds it"


def test_a_job_whose_start_cannot_be_recorded_does_not_run_until_it_can(dispatcher):
    dispatcher, ran = dispatcher

    async def scenario():
        (verdict,) = dispatcher.submit([parse_alert(raw_alert(2))])
        read_only(dispatcher.journal)  # before the job's task first runs
        await dispatcher.drain()
        waiting = dispatcher.journal.job(verdict.job_id)["state"], len(ran), dispatcher.held()
        assert dispatcher.catch_up() == dispatcher.catch_up() == 1, "still read-only: still held"
        await dispatcher.drain()
        assert len(dispatcher.tasks) == 0 and len(ran) == 0, "tried again once, not run"
        read_only(dispatcher.journal, False)
        dispatcher.catch_up()
        await dispatcher.drain()
        assert dispatcher.held() == 0
        return verdict, waiting

    verdict, waiting = asyncio.run(scenario())
    assert waiting == ("queued", 0, 1), "not run while its start could not be recorded (a crash would run it twice)"
    assert dispatcher.journal.job(verdict.job_id)["state"] == "succeeded" and len(ran) == 1, "run once, later"


def test_the_receiver_says_it_is_behind_and_catches_up_by_itself(dispatcher, monkeypatch):
    dispatcher, _ = dispatcher
    monkeypatch.setattr("incident_remediation.dispatcher.CATCH_UP_SECONDS", 0.1)

    def execute(config, job):
        read_only(dispatcher.journal)
        return "failed", 2, "not healthy"

    dispatcher.execute = execute

    async def scenario():
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            answer = await client.post("/alerts", headers=headers,
                                       data=json.dumps({"version": "4", "alerts": [raw_alert(3)]}))  # fmt: skip
            job_id = (await answer.json())["alerts"][0]["job_id"]
            await dispatcher.drain()
            behind = await (await client.get("/healthz")).json()
            metrics = await (await client.get("/metrics")).text()
            read_only(dispatcher.journal, False)
            await asyncio.sleep(0.5)  # no alert comes: the receiver's own loop writes it
            return job_id, behind, metrics, await (await client.get("/healthz")).json()

    job_id, behind, metrics, after = asyncio.run(scenario())
    assert behind["status"] == "behind" and behind["unrecorded_job_states"] == 1, behind
    assert "remediate_job_states_unrecorded 1" in metrics
    assert after["status"] == "ok" and after["unrecorded_job_states"] == 0 and after["jobs"] == {"failed": 1}, after
    assert dispatcher.journal.job(job_id)["reason"] == "not healthy"


def test_a_receiver_stopping_writes_the_ends_it_holds_and_starts_nothing(dispatcher, monkeypatch):
    dispatcher, ran = dispatcher
    monkeypatch.setattr("incident_remediation.dispatcher.CATCH_UP_SECONDS", 3600)  # only the stop catches up

    async def scenario():
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))):
            (done,) = dispatcher.submit([parse_alert(raw_alert(4))])
            await asyncio.sleep(0)  # its task begins: the playbook runs
            (waiting,) = dispatcher.submit([parse_alert(raw_alert(5))])  # its start comes after the disk fills
            read_only(dispatcher.journal)
            await dispatcher.drain()
            assert dispatcher.held() == 2, "one job's end, the other's start"
            read_only(dispatcher.journal, False)
        return done, waiting

    done, waiting = asyncio.run(scenario())
    assert dispatcher.journal.job(done.job_id)["state"] == "succeeded", "written as the receiver stopped"
    assert dispatcher.journal.job(waiting.job_id)["state"] == "queued", "not started while stopping"
    assert len(ran) == 1


def test_a_receiver_stopping_starts_none_of_the_jobs_that_wait(dispatcher):
    """SIGTERM: the running job ends (it is not cut in the middle), the queued ones stay queued for the next
    start; the service manager would kill whatever the stop started."""
    dispatcher, ran = dispatcher
    dispatcher.slots = asyncio.Semaphore(1)  # max_jobs 1: the second job waits for the first

    def execute(config, job):
        time.sleep(0.3)
        ran.append(job)
        return "succeeded", 0, ""

    dispatcher.execute = execute

    async def scenario():
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))):
            (running,) = dispatcher.submit([parse_alert(raw_alert(6))])
            (waiting,) = dispatcher.submit([parse_alert(raw_alert(7))])
            await asyncio.sleep(0.1)  # the first one runs
        return running, waiting

    running, waiting = asyncio.run(scenario())
    assert dispatcher.journal.job(running.job_id)["state"] == "succeeded", "the running job ended"
    assert dispatcher.journal.job(waiting.job_id)["state"] == "queued", "not started while stopping"
    assert len(ran) == 1
