"""A secret in the receiver's environment (the notifier's url_env / routing_key_env) reaches the playbook's
controller, as the notifier reads it, and is written nowhere: a real ansible-runner run of a small playbook
on a local host, through the dispatcher and its journal, as `remediate run` starts it."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import yaml
from secret_leaks import leaks

from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.runner import execute, job_dir

ROOT = Path(__file__).resolve().parents[3]
LOCAL = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
SECRETS = {"INCIDENT_NOTIFY_SLACK_URL": "https://hooks.example/SECRET-123",
           "INCIDENT_PD_ROUTING_KEY": "R0UT1NGKEY-abcdef-0123456789"}  # fmt: skip


def test_a_secret_of_the_receivers_environment_reaches_the_playbook_and_no_file(tmp_path, monkeypatch):
    seen = tmp_path / "seen"  # outside the data dir: what the controller read, hashed
    lookups = " ".join(f"{{{{ lookup('env', '{name}') | hash('sha256') }}}}" for name in SECRETS)
    play = [{"name": "Reads the secrets as the notifier does", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Keep what the controller read", "delegate_to": "localhost",
         "ansible.builtin.copy": {"dest": str(seen), "content": lookups, "mode": "0600"}},
    ]}]  # fmt: skip
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp_path / "hosts").write_text(f"web1 {LOCAL}\nlocalhost {LOCAL}\n")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    config = Config(source="test", routes=[], inventory=str(tmp_path / "hosts"), data_dir=data,
                    ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip

    async def go() -> dict:
        dispatcher = Dispatcher(config, Journal(data / "journal.sqlite"), execute)
        job_id = dispatcher.submit_operator(playbook=str(tmp_path / "play.yml"), target="web1",
                                            variables={"service": "demo"}, check=False)  # fmt: skip
        await dispatcher.run(dispatcher.journal.job(job_id))
        return dispatcher.journal.job(job_id)

    job = asyncio.run(go())
    assert job["state"] == "succeeded", job
    wanted = " ".join(hashlib.sha256(value.encode()).hexdigest() for value in SECRETS.values())
    assert seen.read_text() == wanted  # the playbook's controller had the real values
    assert (job_dir(config, job["id"]) / "artifacts" / "run" / "command").is_file()
    assert leaks(data, "", list(SECRETS.values())) == []  # the job's folder (runner artifacts, env) and the journal


def test_the_private_copy_is_removed_after_the_run(tmp_path, monkeypatch):
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"ansible.builtin.debug": {"msg": "ok"}}]}]))  # fmt: skip
    (tmp_path / "hosts").write_text(f"web1 {LOCAL}\n")
    monkeypatch.setenv("INCIDENT_NOTIFY_SLACK_URL", "https://hooks.example/SECRET-456")
    private = tmp_path / "private"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(private))
    private.mkdir(mode=0o700)
    config = Config(source="test", routes=[], inventory=str(tmp_path / "hosts"), data_dir=tmp_path / "data",
                    ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip
    job = {"id": "j-private", "playbook": str(tmp_path / "play.yml"), "target": "web1", "check_mode": 0,
           "extravars": "{}", "route": ""}  # fmt: skip
    assert execute(config, job)[0] == "succeeded"
    assert [str(p) for p in private.rglob("*")] == []
