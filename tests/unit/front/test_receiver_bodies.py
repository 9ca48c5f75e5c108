"""Bodies that once crashed the receiver's request: each is a clear 4xx, counted in
remediate_requests_rejected_total, and the receiver answers the next request as before."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from incident_remediation import receiver
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal

TOKEN = "bodies-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def post_all(tmp_path, *bodies: bytes) -> tuple[list[tuple[int, dict]], str]:
    async def scenario():
        config = Config(source="test", routes=[], data_dir=tmp_path)  # max_body_bytes: the default, 1 MiB
        dispatcher = Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda config, job: ("succeeded", 0, ""))
        answers = []
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            for body in bodies:
                answer = await client.post("/alerts", data=body, headers=AUTH)
                answers.append((answer.status, await answer.json()))
            metrics = await (await client.get("/metrics")).text()
        return answers, metrics

    return asyncio.run(scenario())


def test_100000_nested_objects_in_600_kb_are_a_400_naming_the_nesting_and_counted(tmp_path):
    bomb = ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()
    assert 590_000 < len(bomb) < 1024 * 1024, "under the body limit"
    answers, metrics = post_all(tmp_path, bomb, b"[" * 100_000 + b"]" * 100_000, b'{"version": "4", "alerts": []}')
    assert answers[0] == (400, {"error": "the body is JSON nested deeper than 64 levels (a webhook payload has 4)"})
    assert answers[1] == answers[0], "deep arrays alike"
    assert answers[2] == (422, {"error": "alerts must be a non-empty list"}), "and the next request is answered"
    assert 'remediate_requests_rejected_total{reason="invalid"} 3' in metrics
