"""A job's reason shows no URL credentials: real ansible-runner runs of a small playbook whose failed task
says a URL with a user and password (in its message, and in the last line of its error output)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from incident_remediation import runner
from incident_remediation.config import Config
from incident_remediation.runner import execute

ROOT = Path(__file__).resolve().parents[3]
SAYS = "cannot reach http://ops:hunter2-9b1e@db.internal.test:5432/app: connection refused"
PLAYBOOK = [{"name": "Stand-in", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Fail with a credential in the message", "ansible.builtin.fail": {"msg": SAYS}},
]}]  # fmt: skip
STDERR = [{"name": "Stand-in", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Fail with a credential in the error output",
     "ansible.builtin.command": "sh -c 'echo proxy https://admin:hunter2-9b1e@proxy.test:3128 refused >&2; exit 4'"},
]}]  # fmt: skip


def run(tmp_path: Path, plays: list, ansible_config: str = str(ROOT / "ansible.cfg")) -> tuple[str, int, str]:
    (tmp_path / "hosts").write_text(f"web1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    config = Config(source="test", routes=[], inventory=str(tmp_path / "hosts"), data_dir=tmp_path / "data",
                    ansible_config=ansible_config)  # fmt: skip
    job = {"id": f"j-{time.monotonic_ns()}", "playbook": str(tmp_path / "play.yml"), "target": "web1",
           "check_mode": 0, "extravars": "{}", "route": ""}  # fmt: skip
    return execute(config, job)


def test_a_credential_in_a_failed_tasks_message_is_redacted_in_the_reason(tmp_path):
    state, _, reason = run(tmp_path, PLAYBOOK)
    assert state == "failed"
    assert "hunter2" not in reason and "ops:" not in reason, reason
    assert "cannot reach http://***@db.internal.test:5432/app: connection refused" in reason, reason


def test_a_credential_in_the_last_line_of_the_error_output_is_redacted_in_the_reason(tmp_path):
    state, _, reason = run(tmp_path, STDERR)
    assert state == "failed"
    assert "hunter2" not in reason and "admin" not in reason, reason
    assert "proxy https://***@proxy.test:3128 refused" in reason, reason


def test_without_the_collections_redaction_the_reason_is_withheld(tmp_path, monkeypatch):
    def missing(config):
        raise ImportError("No module named 'ansible_collections'")

    monkeypatch.setattr(runner, "collection_text", missing)
    state, _, reason = run(tmp_path, PLAYBOOK)
    assert state == "failed"
    assert reason.startswith("the reason is withheld: the collection's redaction could not be loaded"), reason
    assert "hunter2" not in reason


def test_every_executors_reason_is_redacted_when_journaled(tmp_path):
    # AWX builds its reasons itself (a failed task's message from AWX's events) and a timeout names the task still
    # running: whatever the executor says, the journal, the log and the API get it redacted, in one place
    import asyncio  # noqa: PLC0415

    from incident_remediation.dispatcher import Dispatcher  # noqa: PLC0415
    from incident_remediation.journal import Journal  # noqa: PLC0415

    config = Config(source="test", routes=[], data_dir=tmp_path / "data", ansible_config=str(ROOT / "ansible.cfg"))
    said = f"AWX job 7 failed: task 'Probe' failed on web1: {SAYS}"
    remediate = Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda *_: ("failed", 2, said))

    async def scenario():
        job_id = remediate.submit_operator(playbook="p.yml", target="web1", variables={}, check=False)
        await remediate.run(remediate.journal.job(job_id))
        return remediate.journal.job(job_id)

    job = asyncio.run(scenario())
    assert job["state"] == "failed"
    assert "hunter2" not in job["reason"], job["reason"]
    assert "http://***@db.internal.test:5432/app" in job["reason"], job["reason"]
