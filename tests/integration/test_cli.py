"""The remediate command line: route (dry run), run (an operator's job through journal and runner), jobs, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from disks import small_disk

ROOT = Path(__file__).resolve().parents[2]
REMEDIATE = str(ROOT / ".venv" / "bin" / "remediate")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    services = {"demo-app": {"unit": "no-such-unit.service", "alerts": {"DemoAppDown": "restart"}}}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"web1": local}, "vars": {"services": services}}}
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    route = {"name": "down", "alertname": "DemoAppDown", "playbook": "incident.remediation.remediate",
             "severities": ["critical"], "labels": ["instance", "severity"]}  # fmt: skip
    path = work / "remediate.yml"
    path.write_text(yaml.safe_dump({"inventory": "inventory.yml", "ansible_config": str(ROOT / "ansible.cfg"),
                                    "data_dir": "data", "routes": [route]}))  # fmt: skip
    return path


def remediate(config, *args):
    return subprocess.run([REMEDIATE, "--config", str(config), *args], capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def with_data_dir(config: Path, folder: Path, data: Path) -> Path:
    """The module's config with its journal and jobs in ``data`` (a small disk), written in ``folder``."""
    settings = {**yaml.safe_load(config.read_text()), "inventory": str(config.parent / "inventory.yml"),
                "data_dir": str(data)}  # fmt: skip
    (folder / "remediate.yml").write_text(yaml.safe_dump(settings))
    return folder / "remediate.yml"


def test_route_explains_the_decision_and_changes_nothing(config, tmp_path):
    alert = {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical",
             "team": "x"}, "fingerprint": "f00d", "startsAt": "2026-11-23T10:00:00Z"}  # fmt: skip
    (tmp_path / "alert.json").write_text(json.dumps({"version": "4", "alerts": [alert]}))
    done = remediate(config, "route", str(tmp_path / "alert.json"))
    assert done.returncode == 0, done.stderr
    assert "route down: matches" in done.stdout and "verdict: accepted" in done.stdout
    assert "would run: incident.remediation.remediate --limit web1" in done.stdout
    shown = done.stdout.split("never templated):\n", 1)[1].split("\n  target lock", 1)[0]
    variables = json.loads(shown)
    assert "team" not in variables["alert"]["labels"], "only the route's labels in alert"
    assert variables["alert_labels"]["team"] == "x", "the whole label set only as alert_labels, for the silence"
    assert not (config.parent / "data" / "journal.sqlite").exists()
    alert["labels"]["severity"] = "warning"
    (tmp_path / "alert.json").write_text(json.dumps(alert))
    assert "verdict: refused - severity 'warning' is not one this route acts on" in remediate(
        config, "route", str(tmp_path / "alert.json")).stdout  # fmt: skip


def test_run_journals_an_operators_job_and_reports_it(config):
    done = remediate(config, "run", "restart", "--limit", "web1", "--service", "demo-app", "--incident-id", "OPS-CLI-1")
    assert done.returncode == 1, done.stdout + done.stderr  # the unit does not exist here: refused, and said
    assert "INCIDENT OPS-CLI-1" in done.stdout and "web1: failed" in done.stdout
    jobs = json.loads(remediate(config, "jobs", "--json").stdout)
    assert jobs[0]["source"] == "operator" and jobs[0]["state"] == "failed" and jobs[0]["target"] == "web1"
    report = remediate(config, "report", jobs[0]["id"])
    assert report.returncode == 0 and report.stdout.startswith("# Post-Incident Review: restart on demo-app")
    assert "remediate: no job nope" in remediate(config, "report", "nope").stderr


def test_configuration_errors_name_the_key(tmp_path):
    (tmp_path / "bad.yml").write_text(yaml.safe_dump({"routes": [{"name": "x", "alertname": "A"}]}))
    done = remediate(tmp_path / "bad.yml", "jobs")
    assert done.returncode == 2 and "bad.yml: routes[0].playbook: is required" in done.stderr


def test_serve_refuses_a_token_file_of_several_lines_at_start_naming_it(config, tmp_path):
    (tmp_path / "token").write_text("first-token-0123456789abcdef\nsecond-token-0123456789abcdef\n")
    settings = {**yaml.safe_load(config.read_text()), "inventory": str(config.parent / "inventory.yml"),
                "data_dir": str(tmp_path / "data"), "token_file": "token", "listen": "127.0.0.1:1"}  # fmt: skip
    (tmp_path / "remediate.yml").write_text(yaml.safe_dump(settings))
    env = {key: value for key, value in os.environ.items() if key != "REMEDIATE_TOKEN"}
    done = subprocess.run([REMEDIATE, "--config", str(tmp_path / "remediate.yml"), "serve"], capture_output=True,
                          text=True, timeout=60, check=False, env=env)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (f"remediate: {tmp_path / 'remediate.yml'}: token_file: {tmp_path / 'token'} holds 2 lines: "
                           "it must hold the token alone, on one line\n")  # fmt: skip
    assert "listening" not in done.stdout and not (tmp_path / "data").exists(), "nothing started"


def test_a_journal_on_a_full_disk_is_a_clear_error(config, tmp_path):
    with small_disk(tmp_path / "disk", "64k") as disk:
        moved = with_data_dir(config, tmp_path, disk.mount / "data")
        disk.fill()
        done = remediate(moved, "run", "restart", "--limit", "web1", "--service", "demo-app")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"remediate: the journal in {disk.mount / 'data'} cannot be used: "), done.stderr
    assert "Traceback" not in done.stderr


def test_a_run_whose_end_the_journal_cannot_take_says_so(config, tmp_path):
    """The disk fills as soon as the run starts (its job folder appears): the run cannot write its artifacts
    nor the journal its end; remediate says which job the journal shows wrong, exit 2."""
    with small_disk(tmp_path / "disk") as disk:
        data = disk.mount / "data"
        moved = with_data_dir(config, tmp_path, data)
        filled = threading.Event()

        def fill_when_the_job_starts() -> None:
            deadline = time.monotonic() + 60
            while not any((data / "jobs").glob("*/env")) and time.monotonic() < deadline:
                time.sleep(0.01)
            disk.fill()
            filled.set()

        threading.Thread(target=fill_when_the_job_starts, daemon=True).start()
        done = remediate(moved, "run", "restart", "--limit", "web1", "--service", "demo-app")
        assert filled.wait(5)
        disk.free()
        jobs = json.loads(remediate(moved, "jobs", "--json").stdout)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"remediate: the journal in {data} could not record job {jobs[0]['id']}'s end (failed): it shows it " \
           "running" in done.stderr, done.stderr  # fmt: skip
    assert "No space left on device" in done.stdout, "the run's own failure is said"
    assert jobs[0]["state"] == "running" and "Traceback" not in done.stderr
