"""Runs one job's playbook with ansible-runner, in a private data directory per job.

jobs/<id>/env/extravars   the variables, every string marked unsafe (extravars.py)
jobs/<id>/artifacts/      ansible-runner's stdout, events, rc, status
jobs/<id>/incidents/      the incident timeline, evidence and post-incident report
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from incident_remediation.config import Config
from incident_remediation.extravars import write_unsafe

TIMELINE_CALLBACK = "incident.remediation.incident_timeline"


def job_dir(config: Config, job_id: str) -> Path:
    return config.data_dir / "jobs" / job_id


def _environment(config: Config, folder: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # ansible-playbook of the same environment as this process
    env = {
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "INCIDENT_TIMELINE_DIR": str(folder / "incidents"),
        "ANSIBLE_CALLBACKS_ENABLED": TIMELINE_CALLBACK,
        "ANSIBLE_NOCOLOR": "1",
    }
    if config.ansible_config:
        env["ANSIBLE_CONFIG"] = config.ansible_config
    env.update(config.envvars)
    return env


def _failure(runner) -> str:
    """The last failed task's message, which is what an operator needs first."""
    for event in reversed(list(runner.events)):
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            data = event.get("event_data", {})
            message = str(data.get("res", {}).get("msg", "")).strip()
            return f"{data.get('host', '?')}: {data.get('task', '?')}: {message}"[:500]
    return ""


def execute(config: Config, job: dict) -> tuple[str, int, str]:
    """(state, rc, reason) after running ``job`` (a journal row) to its end."""
    folder = job_dir(config, job["id"])
    (folder / "env").mkdir(parents=True, exist_ok=True, mode=0o700)
    variables = {**json.loads(job["extravars"]), "incident_evidence_dir": str(folder / "incidents")}
    write_unsafe(folder / "env" / "extravars", variables)
    import ansible_runner  # noqa: PLC0415  (about 14 MiB: loaded by the first job, not by an idle receiver)

    runner = ansible_runner.run(
        private_data_dir=str(folder),
        ident="run",
        playbook=job["playbook"],
        inventory=config.inventory or None,
        limit=job["target"],
        cmdline="--check" if job["check_mode"] else None,
        envvars=_environment(config, folder),
        quiet=True,
    )
    rc = runner.rc if runner.rc is not None else -1
    processed = (runner.stats or {}).get("processed", {})
    if rc == 0 and job["target"] not in processed:
        where = config.inventory or "the default inventory"
        return "failed", rc, f"no host {job['target']!r} was run: it is not in {where} (or the playbook skips it)"
    if runner.status == "successful" and rc == 0:
        return "succeeded", rc, ""
    reason = _failure(runner) or f"ansible-playbook ended {runner.status} with rc {rc}"
    return "failed", rc, reason


def timelines(config: Config, job_id: str) -> list[Path]:
    return sorted((job_dir(config, job_id) / "incidents").glob("*/timeline.jsonl"))


def outcomes(config: Config, job_id: str) -> list[dict]:
    """Each host's incident outcome the job recorded, with ``host`` (the timelines' outcome events; a torn
    line is skipped)."""
    found = []
    for path in timelines(config, job_id):
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "outcome" and isinstance(event.get("data"), dict):
                found.append({**event["data"], "host": str(event.get("host") or "")})
    return found


def job_processes(config: Config, job_id: str) -> list[int]:
    """Live processes started for the job: their environment names its incidents folder."""
    marker = f"INCIDENT_TIMELINE_DIR={job_dir(config, job_id) / 'incidents'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def stop_orphans(config: Config, job_id: str, grace: float = 10.0) -> list[int]:
    """Stop what is left of a job whose receiver died (ansible-playbook and its workers): SIGTERM, then
    SIGKILL after ``grace`` seconds. Left alone, they run on until their next output to the dead receiver,
    so a restarted receiver could start another job on the same host meanwhile. The pids found."""
    found = job_processes(config, job_id)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in job_processes(config, job_id):  # read again: never signal a pid that was reused meanwhile
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while job_processes(config, job_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    return found
