"""The bearer token check: every request to a guarded path is decided by one constant-time comparison of
the whole header against the whole expected value (never ==, never a prefix, never a length shortcut).

Timing itself is not asserted here (shared machines are noisy); bench/token_timing.py measures it.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from incident_remediation import receiver
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def compared(monkeypatch):
    calls = []
    real = receiver.hmac.compare_digest

    def spy(given, expected):
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(receiver.hmac, "compare_digest", spy)
    return calls


def ask(tmp_path, headers: dict, path: str = "/jobs") -> int:
    async def scenario():
        config = Config(source="test", routes=[], data_dir=tmp_path)
        dispatcher = Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda config, job: ("succeeded", 0, ""))
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            answer = await client.get(path, headers=headers)
            return answer.status

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        f"Bearer {TOKEN[:-1]}",  # all but the last character
        f"Bearer {TOKEN}x",  # one more
        f"Bearer {TOKEN[:-1]}X",  # the last one wrong
        f"bearer {TOKEN}",  # the scheme's case
        f"Basic {TOKEN}",
        "Bearer " + "é" * 10,  # not ASCII
    ],
)
def test_wrong_tokens_are_refused_after_one_full_comparison(tmp_path, compared, header):
    status = ask(tmp_path, {} if header is None else {"Authorization": header})
    assert status == 401
    assert len(compared) == 1, "one comparison decides"
    given, expected = compared[0]
    assert expected == f"Bearer {TOKEN}".encode(), "against the whole expected header"
    assert given == (header or "").encode(), "with the whole header given"


def test_the_right_token_passes_through_the_same_comparison(tmp_path, compared):
    assert ask(tmp_path, {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert compared == [(f"Bearer {TOKEN}".encode(), f"Bearer {TOKEN}".encode())]


def test_health_and_metrics_need_no_token_and_compare_nothing(tmp_path, compared):
    assert ask(tmp_path, {}, "/healthz") == 200 and ask(tmp_path, {}, "/metrics") == 200
    assert compared == []
