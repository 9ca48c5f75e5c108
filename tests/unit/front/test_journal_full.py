"""A journal that cannot grow (a full disk; SQLite's max_page_count stands in for it here, a real full
tmpfs in tests/integration/test_receiver_hardening.py): each alert is recorded whole or not at all,
nothing unrecorded starts, the receiver answers 503 and counts it, and all works again once there is room.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

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
