"""A secret in the receiver's environment (the notifier's url_env / routing_key_env) reaches the playbook's
controller, as the notifier reads it, and is written nowhere: a real ansible-runner run of a small playbook
on a local host, through the dispatcher and its journal, as `remediate run` starts it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path

import yaml
from secret_leaks import leaks

from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.runner import execute, job_dir, withhold

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
    assert [str(p) for p in private.rglob("*") if not p.is_dir()] == [], "no copy left (the receiver's folder stays)"


def test_a_private_copy_left_by_a_killed_receiver_is_swept_and_another_users_folder_never_used(tmp_path, monkeypatch):
    """A receiver killed between writing the copy and its playbook reading it leaves the copy behind (seen:
    two in /dev/shm after test_receiver_hardening's 20 kills): the next job's withhold sweeps the stale ones of
    this receiver, never a fresh one nor another receiver's. A folder planted in a shared runtime folder (a
    link, or not ours) is never written into."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    config = Config(source="test", routes=[], inventory=str(tmp_path / "hosts"), data_dir=tmp_path / "data",
                    ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip
    env = {"INCIDENT_NOTIFY_SLACK_URL": "https://hooks.example/SECRET-789"}
    monkeypatch.setenv("INCIDENT_NOTIFY_SLACK_URL", env["INCIDENT_NOTIFY_SLACK_URL"])
    first = withhold(config, dict(env), {})
    stale = first.parent / "remediate-env-stale"
    stale.write_text("{}")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    other = runtime / "remediate-env-of-another-receiver"
    other.write_text("{}")
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    second = withhold(config, dict(env), {})
    assert first.exists() and second.exists(), "fresh copies are left for their playbooks"
    assert not stale.exists(), "a stale copy of this receiver is swept"
    assert other.exists(), "another receiver's folder is not this one's to sweep"
    first.unlink()
    second.unlink()
    # a shared runtime folder where someone planted this receiver's folder as a link to theirs
    planted, theirs = tmp_path / "planted", tmp_path / "theirs"
    planted.mkdir(mode=0o1777)
    theirs.mkdir(mode=0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(planted))
    (planted / first.parent.name).symlink_to(theirs)
    third = withhold(config, dict(env), {})
    assert theirs not in third.parents and not list(theirs.iterdir()), "never written through a planted link"
    third.unlink()
