"""Import this checkout as ansible_collections.incident.remediation and run modules in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False) -> (failed, result): main() as Ansible runs it."""

    def run(module, args: dict, check_mode: bool = False) -> tuple[bool, dict]:
        given = {k: v for k, v in args.items() if v is not None}  # None means "not given", as in a task
        with patch_module_args({**given, "_ansible_check_mode": check_mode}), pytest.raises(SystemExit) as exit_:
            module.main()
        result = json.loads(capsys.readouterr().out)
        assert bool(exit_.value.code) == bool(result.get("failed")), result
        return bool(result.get("failed")), result

    return run
