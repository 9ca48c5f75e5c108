"""The EDA event source in process (its own aiohttp server on a free port, real HTTP), without ansible-rulebook:
the event it queues, its spool's retention, its answers to JSON bombs and to the bearer scheme's case.
tests/integration/test_eda.py runs it under a real ansible-rulebook."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import time
from pathlib import Path

import aiohttp
import pytest
from monitoring import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "extensions/eda/plugins/event_source/alertmanager.py"
TOKEN = "eda-source-token-0123456789abcdef"


def source():
    spec = importlib.util.spec_from_file_location("alertmanager_source", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def body(fingerprint: str = "f1a2", status: str = "firing", **labels) -> bytes:
    alert = {"status": status, "labels": {"alertname": "DemoAppDown", "instance": "web1:8080", **labels},
             "annotations": {"summary": "{{ lookup('pipe', 'id') }}"}, "fingerprint": fingerprint}  # fmt: skip
    return json.dumps({"version": "4", "receiver": "eda", "groupKey": '{}:{alertname="DemoAppDown"}',
                       "alerts": [alert]}).encode()  # fmt: skip


async def with_source(args: dict, scenario):
    """Run the source with ``args`` (token and a free port added) and ``scenario(url, queue)``; then stop it."""
    port = free_port()
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source().main(queue, {"token": TOKEN, "port": port, **args}))
    url = f"http://127.0.0.1:{port}/alerts"
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientConnectorError):
                async with session.post(url, data=b"") as answer:
                    if answer.status == 401:
                        break
            await asyncio.sleep(0.05)
        try:
            return await scenario(session, url, queue)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def post(session, url: str, data: bytes, scheme: str = "Bearer") -> tuple[int, dict]:
    async with session.post(url, data=data, headers={"Authorization": f"{scheme} {TOKEN}"}) as answer:
        return answer.status, await answer.json()


def test_the_event_is_status_fingerprint_target_and_alert_file_and_the_file_holds_the_alert(tmp_path):
    async def scenario(session, url, queue):
        assert await post(session, url, body(note="{{ lookup('pipe', 'id') }}")) == (202, {"events": 1})
        return await queue.get()

    event = asyncio.run(with_source({"spool_dir": str(tmp_path)}, scenario))
    assert event == {"status": "firing", "fingerprint": "f1a2", "target": "web1",
                     "alert_file": str(tmp_path / "f1a2-1.json")}  # fmt: skip
    kept = json.loads(Path(event["alert_file"]).read_text())
    assert kept["alert"]["labels"]["note"] == {"__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}
    assert kept["alert_labels"]["instance"] == {"__ansible_unsafe": "web1:8080"}
    assert kept["alert_group"] == {"receiver": {"__ansible_unsafe": "eda"},
                                   "groupKey": {"__ansible_unsafe": '{}:{alertname="DemoAppDown"}'}}  # fmt: skip
    assert os.stat(event["alert_file"]).st_mode & 0o777 == 0o600


def test_alert_files_older_than_spool_max_age_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "notes.txt").write_text("the operator's")
    (tmp_path / "abc-7.json").symlink_to(tmp_path / "notes.txt")  # named like ours, but a link: left alone
    old = tmp_path / "0dd-1.json"
    old.write_text("{}")
    os.utime(old, (time.time() - 100, time.time() - 100))

    async def scenario(session, url, queue):
        await asyncio.sleep(0.3)
        at_start = sorted(p.name for p in tmp_path.iterdir())
        assert await post(session, url, body()) == (202, {"events": 1})
        fresh = Path((await queue.get())["alert_file"])
        assert fresh.exists()
        await asyncio.sleep(2.0)  # older than 1 s by now; the cleaner runs every 0.25 s
        return at_start, fresh

    at_start, fresh = asyncio.run(with_source({"spool_dir": str(tmp_path), "spool_max_age": 1}, scenario))
    assert at_start == ["abc-7.json", "notes.txt"], "the old alert file went at start"
    assert not fresh.exists(), "and the new one once older than spool_max_age"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc-7.json", "notes.txt"]


def test_a_private_spool_is_removed_when_the_source_stops():
    async def scenario(session, url, queue):
        assert await post(session, url, body()) == (202, {"events": 1})
        return Path((await queue.get())["alert_file"])

    alert_file = asyncio.run(with_source({}, scenario))
    assert alert_file.parent.name.startswith("alertmanager-source-")
    assert not alert_file.parent.exists()


def test_json_bombs_are_a_400_naming_the_nesting_and_the_scheme_is_case_insensitive(tmp_path):
    async def scenario(session, url, queue):
        bomb = ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()
        answers = [await post(session, url, bomb), await post(session, url, b"[" * 50_000 + b"]" * 50_000)]
        answers += [await post(session, url, body(status="resolved"), scheme=scheme) for scheme in ("bearer", "BEARER")]
        return answers, queue.qsize()

    answers, queued = asyncio.run(with_source({"spool_dir": str(tmp_path)}, scenario))
    too_deep = (400, {"error": "the body is JSON nested deeper than 64 levels (a webhook payload has 4)"})
    assert answers == [too_deep, too_deep, (202, {"events": 1}), (202, {"events": 1})]
    assert queued == 2


def test_a_token_of_two_lines_is_refused_at_start_without_showing_it():
    queue: asyncio.Queue = asyncio.Queue()
    for token in ("first-token-0123456789\nsecond-token-0123456789", "token-0123456789 abcdef"):
        with pytest.raises(ValueError, match="has a line break, a space or a control character inside") as caught:
            asyncio.run(asyncio.wait_for(source().main(queue, {"token": token, "port": free_port()}), 5))
        assert "0123456789" not in str(caught.value)
    assert source()._token({"token": f"{TOKEN}\n"}) == TOKEN, "a trailing newline is not part of it"
