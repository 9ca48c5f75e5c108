"""Shared by every test: this checkout importable as ansible_collections.incident.remediation,
modules run in-process (``run_module``) and tasks run through ansible-playbook (``ansible_task``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402


def pytest_collection_modifyitems(items):
    """Every test has its own node id, or pytest-xdist (which schedules by node id) runs only one of those that share
    one, and says nothing. schemathesis' ``schema.parametrize()`` makes one item per API operation, named
    ``test_x[POST /alerts]``, but on pytest 9.2 they all get the node id ``test_x`` (it hands pytest the bare function
    name as ``originalname``): each gets its name's operation back in its id. Any other shared id stops the run."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        originalname = getattr(item, "originalname", item.name)
        if counts[item.nodeid] > 1 and item.name.startswith(f"{originalname}[") and hasattr(item, "_id"):
            item._id = item.parent.id.child(originalname).with_params(item.name[len(originalname) + 1 : -1])
    shared = [nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1]
    if shared:
        raise pytest.UsageError(f"tests that share a node id (pytest-xdist would run only one of each): {shared}")


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False) -> (failed, result): main() as Ansible runs it."""

    def run(module, args: dict, check_mode: bool = False) -> tuple[bool, dict]:
        given = {k: v for k, v in args.items() if v is not None}  # None means "not given", as in a task
        with (
            patch_module_args({**given, "_ansible_check_mode": check_mode}),
            pytest.raises(SystemExit) as exit_,
        ):
            module.main()
        result = json.loads(capsys.readouterr().out)
        assert bool(exit_.value.code) == bool(result.get("failed")), result
        return bool(result.get("failed")), result

    return run


@pytest.fixture
def ansible_task(tmp_path):
    """ansible_task(tasks, check=False) -> [result, ...]: the tasks run by ansible-playbook on localhost.

    Each task's registered result comes back in order (failed ones too: the play keeps going),
    read from the ansible.posix.json callback, so arguments, check mode and return values are
    exercised exactly as a user's playbook would.
    """

    def run(
        tasks: list[dict], check: bool = False, extra_vars: dict | None = None, extra_vars_file: str = ""
    ) -> list[dict]:
        play = [{"name": "test", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "tasks": [{**task, "ignore_errors": True} for task in tasks]}]  # fmt: skip
        playbook = tmp_path / "playbook.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(playbook)]
        if check:
            command.append("--check")
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        if extra_vars_file:
            command += ["-e", f"@{extra_vars_file}"]
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        }
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        try:
            output = json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook did not print JSON:\n{done.stdout}\n{done.stderr}") from None
        results = [task["hosts"]["localhost"] for task in output["plays"][0]["tasks"]]
        assert len(results) == len(tasks), done.stdout
        return results

    return run
