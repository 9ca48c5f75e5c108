"""A job that runs past its route's timeout is stopped and recorded timed_out with what was still running; the
host's lock and the slot are free again for the next job. Real ansible-runner on a local host, a task that
hangs (tests/integration/test_receiver_jobs.py does the same with a hung systemctl on a podman host)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

from incident_remediation.config import Config, load
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.errors import ConfigError
from incident_remediation.journal import TERMINAL, Journal
from incident_remediation.routing import DEFAULT_TIMEOUT, Route
from incident_remediation.runner import execute, job_processes, job_timeout
from incident_remediation.webhook import parse_alert

ROOT = Path(__file__).resolve().parents[3]
HANGS = [{"name": "Stand-in", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Read the unit", "ansible.builtin.command": "true"},
    {"name": "Restart the unit", "ansible.builtin.command": "sleep 300"},  # a systemctl that never returns
]}]  # fmt: skip


def alert(fingerprint: str):
    return parse_alert({"status": "firing", "labels": {"alertname": "Down", "instance": "web1:80"},
                        "fingerprint": fingerprint, "startsAt": "2026-11-23T10:00:00Z"})  # fmt: skip


def test_a_hung_job_is_stopped_at_its_routes_timeout_and_frees_the_host(tmp_path):
    (tmp_path / "hosts").write_text(f"web1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "hangs.yml").write_text(yaml.safe_dump(HANGS, sort_keys=False))
    route = Route(name="down", alertname="Down", playbook=str(tmp_path / "hangs.yml"), cooldown=0, timeout=3)
    config = Config(source="test", routes=[route], inventory=str(tmp_path / "hosts"), data_dir=tmp_path / "data",
                    ansible_config=str(ROOT / "ansible.cfg"), max_jobs=1)  # fmt: skip
    dispatcher = Dispatcher(config, Journal(tmp_path / "journal.sqlite"), execute)

    async def scenario():
        first = dispatcher.submit([alert("aa")])
        second = dispatcher.submit([alert("bb")])  # waits for web1's lock and the only slot
        await asyncio.wait_for(dispatcher.drain(), timeout=90)  # the old code waited forever here
        return first[0].job_id, second[0].job_id

    first, second = asyncio.run(scenario())
    for job_id in (first, second):
        job = dispatcher.journal.job(job_id)
        assert job["state"] == "timed_out", job
        assert job["reason"].startswith("did not finish within 3 s (the timeout of route down): still running: "
                                        "task 'Restart the unit' on web1"), job["reason"]  # fmt: skip
        assert job["reason"].endswith("and was stopped: the remediation may be partly done, check web1"), job["reason"]
        assert not job_processes(config, job_id), "nothing of its playbook is left running"
    assert dispatcher.journal.job(second)["started"] >= dispatcher.journal.job(first)["finished"]


def test_the_timeout_is_a_route_option_with_a_default(tmp_path):
    route = {"name": "r", "alertname": "A", "playbook": "p"}
    path = tmp_path / "remediate.yml"
    path.write_text(yaml.safe_dump({"routes": [route, {**route, "name": "quick", "timeout": 120}]}))
    config = load(path)
    assert [r.timeout for r in config.routes] == [DEFAULT_TIMEOUT, 120]
    assert DEFAULT_TIMEOUT == 1800
    assert job_timeout(config, {"route": "quick"}) == 120
    assert job_timeout(config, {"route": ""}) == DEFAULT_TIMEOUT, "an operator's run has the default"
    path.write_text(yaml.safe_dump({"routes": [{**route, "timeout": 0}]}))
    with pytest.raises(ConfigError, match=r"routes\[r\]\.timeout: must be at least 1, got 0"):
        load(path)


def test_timed_out_is_a_final_state():
    assert "timed_out" in TERMINAL
