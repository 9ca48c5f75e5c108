"""A firing of an alert whose incident is mitigated and in its stability window is a regression (stability.py):
recorded and paged at once, no job; the same episode sent again pages nobody twice; after the window, a firing runs
as before."""

from __future__ import annotations

import asyncio
import json
import time

from incident_remediation import stability
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.routing import Route
from incident_remediation.webhook import parse_alert

RECORD = {"incident": "INC-1", "host": "web1", "plan": {"id": "INC-1"},
          "stability": {"window": 900, "span": "15 min", "notify": []}}  # fmt: skip


def alert(starts: str, fingerprint: str = "aa"):
    return parse_alert({"status": "firing", "labels": {"alertname": "Down", "instance": "web1:80"},
                        "fingerprint": fingerprint, "startsAt": starts, "endsAt": ""})  # fmt: skip


def dispatcher(tmp_path) -> Dispatcher:
    route = Route(name="down", alertname="Down", playbook="p.yml", cooldown=0)
    config = Config(source="test", routes=[route], data_dir=tmp_path)
    return Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda config, job: ("succeeded", 0, ""))


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_a_firing_inside_the_window_is_a_regression_paged_once_and_runs_nothing(tmp_path, monkeypatch):
    paged = []
    monkeypatch.setattr(stability, "record", lambda config, row, status, reason, checks: paged.append((status, reason)))
    asyncio.run(regression(dispatcher(tmp_path), tmp_path, paged))


async def regression(front: Dispatcher, tmp_path, paged: list) -> None:
    mitigated = time.time() - 120
    front.journal.schedule_confirmation(incident_id="INC-1", host="web1", timeline=str(tmp_path / "t.jsonl"),
                                        record=RECORD, window=900, mitigated=mitigated, job_id="j1",
                                        fingerprint="aa")  # fmt: skip
    again = iso(time.time() - 10)
    first = front.submit([alert(again)])[0]
    assert (first.verdict, first.job_id) == ("regressed", "j1")
    assert first.reason.startswith("regressed within its stability window of 15 min: Down fired again (started ")
    assert "paged, nothing runs again" in first.reason
    assert front.journal.jobs() == [], "the ladder does not run again"
    row = front.journal.confirmation("INC-1/web1")
    assert row["state"] == "regressed" and row["reason"] == first.reason
    await asyncio.gather(*front.paging)  # told in a worker thread, once committed
    assert paged == [("regressed", first.reason)]
    resent = front.submit([alert(again)])[0]  # Alertmanager's repeat of the same episode
    assert resent.verdict == "regressed" and "already regressed incident INC-1 on web1 (paged)" in resent.reason
    assert len(paged) == 1, "paged once"
    newer = front.submit([alert(iso(time.time() - 2))])[0]  # another episode, the window still running
    assert newer.verdict == "regressed" and len(paged) == 1, "people have it until the window's end"
    with front.journal.transaction():  # the window is over
        front.journal.db.execute("UPDATE confirmations SET due = ? WHERE id = 'INC-1/web1'", (time.time() - 1,))
    later = front.submit([alert(iso(time.time() - 1))])[0]
    assert later.verdict == "accepted", later
    await front.drain()
    counted = front.metrics.render({})
    assert 'remediate_confirmations_total{outcome="regressed"} 1' in counted
    assert 'remediate_alerts_total{verdict="regressed"} 3' in counted


def test_another_alert_and_a_confirmed_window_are_not_regressions(tmp_path):
    asyncio.run(not_regressions(dispatcher(tmp_path)))


async def not_regressions(front: Dispatcher) -> None:
    front.journal.schedule_confirmation(incident_id="INC-1", host="web1", timeline="/t", record=RECORD, window=900,
                                        mitigated=time.time() - 60, fingerprint="aa")  # fmt: skip
    assert front.submit([alert(iso(time.time() - 5), fingerprint="bb")])[0].verdict == "accepted"
    assert front.journal.claim_confirmation("INC-1/web1")
    assert front.journal.end_confirmation("INC-1/web1", "resolved", "stable 15 min", [])
    assert json.loads(front.journal.confirmation("INC-1/web1")["checks"]) == []
    assert front.submit([alert(iso(time.time() - 4))])[0].verdict == "accepted"
    await front.drain()
