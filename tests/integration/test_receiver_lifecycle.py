"""The receiver's lifecycle with real processes: a start beside an operator's live run, a SIGTERM while jobs
wait, a start after a long stop, a crash followed by the alert sent again. A real `remediate serve`, real
ansible-runner running the stand-in playbook tests/fixtures/receiver/record.yml on local hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from monitoring import recording_receiver

from incident_remediation.config import Config
from incident_remediation.runner import job_processes

TOKEN = "lifecycle-token-0123456789abcdef"
RECORD = str(Path(__file__).resolve().parents[1] / "fixtures" / "receiver" / "record.yml")
OPERATOR = """
import asyncio, json, sys
from incident_remediation import config as config_module
from incident_remediation.cli import _journal, executor
from incident_remediation.dispatcher import Dispatcher

config = config_module.load(sys.argv[1])
dispatcher = Dispatcher(config, _journal(config), executor(config))
job = dispatcher.submit_operator(playbook=sys.argv[2], target="web1", variables=json.loads(sys.argv[3]), check=False)
print(job, flush=True)
print(asyncio.run(dispatcher.run(dispatcher.journal.job(job))), flush=True)
"""


def operator_run(config: Path, out: Path, hold: int) -> subprocess.Popen:
    """What `remediate run` does (cmd_run: submit_operator, then run), in its own process, on the stand-in
    playbook (remediate run takes only the collection's playbooks)."""
    variables = {"out_dir": str(out), "hold": hold, "incident_id": "OPS-LIFECYCLE-1", "alert": {}}
    return subprocess.Popen([sys.executable, "-c", OPERATOR, str(config), RECORD, json.dumps(variables)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def test_a_receiver_starting_beside_an_operators_live_run_leaves_it_alone(tmp_path):
    server = recording_receiver(tmp_path, TOKEN, start=False)
    data = Config(source="test", routes=[], data_dir=tmp_path / "data")
    operator = operator_run(server.config, tmp_path / "out", hold=12)
    try:
        job_id = operator.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while len(job_processes(data, job_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # ansible-playbook and its worker, in the 12 s hold
        playbook = job_processes(data, job_id)
        assert playbook, "the operator's playbook runs"
        server.start()
        assert server.get(f"/jobs/{job_id}")["state"] == "running", "not marked interrupted"
        assert set(playbook) <= set(job_processes(data, job_id)), "its playbook was not stopped"
        assert operator.stdout.readline().strip() == "succeeded"
        assert operator.wait(timeout=30) == 0
        assert server.get(f"/jobs/{job_id}")["state"] == "succeeded"
        assert "interrupted job" not in server.log.read_text()
    finally:
        operator.kill()
        operator.wait()
        server.stop()
